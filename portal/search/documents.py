"""Catalog records as search documents: what the index holds of each dataset.

This module reads the catalog's tables through its select builders (the index is a projection
of them and is rebuilt from them by `kaifang reindex`); it never writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.catalog.models import Dataset
from portal.catalog.queries import with_summary_relations
from portal.catalog.record_counts import approximate
from portal.search.analysis import pinyin_terms

BATCH = 500


def load_datasets(session: Session, ids: Iterable[int] | None = None) -> Iterator[Dataset]:
    """Datasets with everything a document needs, in batches (all of them when `ids` is None)."""
    query = with_summary_relations(select(Dataset)).options(selectinload(Dataset.fields)).order_by(Dataset.id)
    if ids is None:
        last = 0
        while batch := list(session.scalars(query.where(Dataset.id > last).limit(BATCH))):
            yield from batch
            last = batch[-1].id
            session.expunge_all()
        return
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), BATCH):
        yield from session.scalars(query.where(Dataset.id.in_(wanted[start:start + BATCH])))


def to_document(d: Dataset) -> dict[str, Any]:
    """One Whoosh document (see `schema.build_schema`) for a dataset."""
    tags = [t.name for t in d.tags]
    version = d.current_version
    theme, dept = d.theme, d.department
    meta = [theme.name_zh, theme.name_en, theme.code, dept.name_zh, dept.name_en, d.spatial_zh, d.spatial_en,
            d.update_frequency, version.source_format if version else "", _period(d)]
    columns = [f"{f.name} {f.description_zh} {f.description_en}" for f in d.fields]
    return {
        "id": str(d.id), "slug": d.slug,
        "title": f"{d.title_zh}\n{d.title_en}",
        "pinyin": " ".join(pinyin_terms(" ".join([d.title_zh, *tags]))),
        "tags": "\n".join(tags),
        "description": f"{d.description_zh}\n{d.description_en}",
        "meta": "\n".join(m for m in meta if m),
        "columns": "\n".join(columns),
        "description_zh": d.description_zh, "description_en": d.description_en,
        "theme": theme.code, "department": dept.slug, "open_class": d.open_class,
        "format": (version.source_format if version else "none"),
        "update_frequency": d.update_frequency or "irregular",
        "tag": ",".join(t.replace(",", " ") for t in tags),
        "published": "1" if d.published else "0", "department_id": str(d.department_id),
        "updated": int(d.updated_at.timestamp() * 1_000_000), "views": int(d.view_count or 0),
        "downloads": int(d.download_count or 0), "records": _records(d, version),
        "title_sort": d.title_zh, "titles": (d.title_zh, d.title_en, tags),
    }


def _records(d: Dataset, version) -> int:
    """The count the index sorts by: the catalog's public figure (0 when none; decision 0031f)."""
    if version is None:
        return 0
    if approximate(d.open_class, d.disclosure, version.sample_epsilon):
        return int(version.row_count_approx or 0)
    return int(version.row_count)


def _period(d: Dataset) -> str:
    if d.temporal_start is None and d.temporal_end is None:
        return ""
    start = d.temporal_start.year if d.temporal_start else ""
    end = d.temporal_end.year if d.temporal_end else ""
    return f"{start} {end}"
