"""Public read services of the catalog, shared by the HTML views, the JSON API and the CLI.

Every function takes the session and the actor first and returns plain dataclasses from
`schemas`; none touches the request. Rows come from `portal.store` through `rows.py`.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from sqlalchemy import Select, and_, func, select, true
from sqlalchemy.orm import Session, aliased, selectinload

from portal.auth import Actor
from portal.catalog import counters
from portal.catalog.cache import cached
from portal.catalog.disclosure_settings import mode_in_force
from portal.catalog.models import Counter, Dataset, Department, Tag, Theme, Version
from portal.catalog.permissions import can_view_dataset
from portal.catalog.queries import visible_datasets, with_summary_relations
from portal.catalog.record_counts import approximate, public_records
from portal.catalog.schemas import (
    DatasetDetail,
    DatasetPage,
    DatasetSummary,
    Facet,
    FieldInfo,
    HomeSummary,
    ListParams,
    Named,
    PortalTotals,
    VersionInfo,
    as_utc,
)
from portal.errors import NotFound

HOME_LIST = 6


def home_summary(session: Session, actor: Actor) -> HomeSummary:
    """Themes with dataset counts, newest and most viewed datasets (those viewed at least once:
    an empty list when nothing has been viewed), and portal totals."""
    visible = visible_datasets(actor).subquery()
    newest = _summaries(session, visible_datasets(actor).order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(HOME_LIST))
    popular = _summaries(session, visible_datasets(actor).where(Dataset.view_count > 0)
                         .order_by(Dataset.view_count.desc(), Dataset.id).limit(HOME_LIST))
    return HomeSummary(themes=list_themes(session, actor), newest=newest, most_viewed=popular,
                       totals=_totals(session, visible))


def list_themes(session: Session, actor: Actor) -> tuple[Named, ...]:
    """All 21 themes in their fixed order, each with the number of datasets the actor can see."""
    visible = visible_datasets(actor).subquery()
    rows = session.execute(
        select(Theme.code, Theme.name_zh, Theme.name_en, func.count(visible.c.id))
        .outerjoin(visible, visible.c.theme_id == Theme.id)
        .group_by(Theme.id).order_by(Theme.position)
    )
    return tuple(Named(*row) for row in rows)


def get_theme(session: Session, actor: Actor, code: str) -> Named:
    """Raises: NotFound."""
    for theme in list_themes(session, actor):
        if theme.key == code:
            return theme
    raise NotFound("theme", code)


def get_department(session: Session, actor: Actor, slug: str) -> Named:
    """Raises: NotFound."""
    department = session.scalar(select(Department).where(Department.slug == slug))
    if department is None:
        raise NotFound("department", slug)
    count = session.scalar(select(func.count()).select_from(
        visible_datasets(actor).where(Dataset.department_id == department.id).subquery()))
    return Named(department.slug, department.name_zh, department.name_en, count or 0)


def list_departments(session: Session, actor: Actor) -> tuple[Named, ...]:
    """Every department, by slug, each with the number of datasets the actor can see."""
    visible = visible_datasets(actor).subquery()
    rows = session.execute(
        select(Department.slug, Department.name_zh, Department.name_en, func.count(visible.c.id))
        .outerjoin(visible, visible.c.department_id == Department.id)
        .group_by(Department.id).order_by(Department.slug)
    )
    return tuple(Named(*row) for row in rows)


def list_datasets(session: Session, actor: Actor, params: ListParams) -> DatasetPage:
    """One page of the datasets the actor can see, filtered by facets, with facet counts."""
    query = _filtered(visible_datasets(actor), params)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / params.per_page))
    ordered = _ordered(query, params.sort).offset((params.page - 1) * params.per_page).limit(params.per_page)
    return DatasetPage(items=_summaries(session, ordered), total=total, page=params.page, pages=pages,
                       facets=_facets(session, query, tag_lang=params.tag_lang))


def recent_datasets(session: Session, actor: Actor, *, theme: str | None = None,
                    department: str | None = None, limit: int | None = None) -> tuple[DatasetSummary, ...]:
    """The datasets the actor can see, most recently updated first, optionally of one theme or
    department: what feeds and the sitemap list (no facets or counts, which they don't need)."""
    query = _filtered(visible_datasets(actor), ListParams(theme=theme, department=department))
    return _summaries(session, _ordered(query, "updated").limit(limit))


def get_dataset(session: Session, actor: Actor, slug: str) -> DatasetDetail:
    """One dataset's public record. Unpublished drafts answer NotFound so they don't leak.

    The record is built once per catalog generation (cache.py) and checked against the actor
    on every call with the same rule as `visible_datasets`.

    Raises:
        NotFound: no visible dataset with that slug.
    """
    found = cached(session, ("detail", slug), lambda: _load_detail(session, slug))
    if found is None or not can_view_dataset(actor, published=found[0], department_id=found[1]):
        raise NotFound("dataset", slug)
    return found[2]


def get_version(session: Session, actor: Actor, slug: str, number: int) -> VersionInfo:
    """One version of a visible dataset (its metadata; rows go through `rowpages`).

    Raises:
        NotFound: no such visible dataset or version.
    """
    for version in get_dataset(session, actor, slug).versions:
        if version.number == number:
            return version
    raise NotFound("version", f"{slug} v{number}")


def operator_versions(session: Session, slug: str) -> tuple[VersionInfo, ...]:
    """Every version of a dataset, newest first, as the publisher's load output shows it (checksum
    and size included, even of conditional data: decision 0028i): for `kaifang versions`, which
    only an operator of the instance runs.

    Raises:
        NotFound: no such dataset.
    """
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
    if dataset is None:
        raise NotFound("dataset", slug)
    versions = session.scalars(select(Version).where(Version.dataset_id == dataset.id).order_by(Version.number.desc()))
    return tuple(VersionInfo.from_model(v) for v in versions)


def _load_detail(session: Session, slug: str) -> tuple[bool, int, DatasetDetail] | None:
    dataset = session.scalar(with_summary_relations(select(Dataset).where(Dataset.slug == slug))
                             .options(selectinload(Dataset.fields)))
    if dataset is None:
        return None
    versions = session.scalars(select(Version).where(Version.dataset_id == dataset.id)
                               .order_by(Version.number.desc()))
    conditional = dataset.open_class != "open"  # records not public: conditional or closed
    detail = _detail(dataset, tuple(VersionInfo.from_model(
        v, conditional=conditional, approximate=approximate(dataset.open_class, dataset.disclosure, v.sample_epsilon))
        for v in versions))
    return dataset.published, dataset.department_id, detail


def record_view(session: Session, actor: Actor, slug: str, *, visitor: str) -> None:  # noqa: ARG001 - every actor's view counts
    """Count a view of a dataset once per visitor and day. `visitor` is an opaque key of the
    visitor that changes every day (visits.visitor_key); only its digest with the dataset is
    kept, so sorting, filtering and paging the preview count nothing more. Tallied in memory and
    written in batches (counters.py): the page never waits on a database write."""
    today = datetime.now(UTC).date()
    digest = hashlib.sha256(f"{today.isoformat()}|{visitor}|{slug}".encode()).hexdigest()[:40]
    counters.buffer_for(session).add_view(slug, digest, today)


def record_download(session: Session, slug: str) -> None:
    """Count one download (batched like views)."""
    counters.buffer_for(session).add(counters.DOWNLOAD, slug)


def record_api_call(session: Session) -> None:
    """Count one API call (batched like views)."""
    counters.buffer_for(session).add(counters.API_CALL)


def _filtered(query: Select, params: ListParams) -> Select:
    if params.theme:
        query = query.join(Theme, Theme.id == Dataset.theme_id).where(Theme.code == params.theme)
    if params.department:
        query = query.join(Department, Department.id == Dataset.department_id).where(Department.slug == params.department)
    if params.open_class:
        query = query.where(Dataset.open_class == params.open_class)
    if params.format:
        query = query.join(Version, Version.id == Dataset.current_version_id).where(Version.source_format == params.format)
    if params.tag:
        query = query.where(Dataset.id.in_(select(Tag.dataset_id).where(Tag.name == params.tag)))
    if params.q:  # only while the search index is being rebuilt: every text query goes to portal.search
        pattern = f"%{params.q.replace('%', '').replace('_', '')}%"
        query = query.where(Dataset.title_zh.ilike(pattern) | Dataset.title_en.ilike(pattern)
                            | Dataset.description_zh.ilike(pattern) | Dataset.description_en.ilike(pattern))
    return query


def _ordered(query: Select, sort: str) -> Select:
    if sort == "records":
        current = aliased(Version)  # the format facet may have joined `versions` already
        return query.outerjoin(current, current.id == Dataset.current_version_id).order_by(
            public_records(current, Dataset).desc().nulls_last(), Dataset.id)
    orders = {
        "updated": (Dataset.updated_at.desc(), Dataset.id.desc()),
        "views": (Dataset.view_count.desc(), Dataset.id),
        "downloads": (Dataset.download_count.desc(), Dataset.id),
        "title": (Dataset.title_zh, Dataset.id),
    }
    return query.order_by(*orders[sort])


def _facets(session: Session, query: Select, *, tag_lang: str | None = None) -> tuple[Facet, ...]:
    ids = query.with_only_columns(Dataset.id).subquery()
    in_page = Dataset.id.in_(select(ids.c.id))
    themes = session.execute(select(Theme.code, Theme.name_zh, Theme.name_en, func.count(Dataset.id))
                             .join(Dataset, Dataset.theme_id == Theme.id).where(in_page)
                             .group_by(Theme.id).order_by(func.count(Dataset.id).desc(), Theme.position))
    departments = session.execute(select(Department.slug, Department.name_zh, Department.name_en, func.count(Dataset.id))
                                  .join(Dataset, Dataset.department_id == Department.id).where(in_page)
                                  .group_by(Department.id).order_by(func.count(Dataset.id).desc(), Department.slug))
    classes = session.execute(select(Dataset.open_class, func.count(Dataset.id)).where(in_page)
                              .group_by(Dataset.open_class).order_by(Dataset.open_class))
    formats = session.execute(select(Version.source_format, func.count(Dataset.id))
                              .join(Dataset, Dataset.current_version_id == Version.id).where(in_page)
                              .group_by(Version.source_format).order_by(func.count(Dataset.id).desc()))
    in_language = (Tag.lang == tag_lang) if tag_lang else true()
    tags = session.execute(select(Tag.name, func.count(Tag.dataset_id)).where(and_(Tag.dataset_id.in_(select(ids.c.id)), in_language))
                           .group_by(Tag.name).order_by(func.count(Tag.dataset_id).desc(), Tag.name).limit(20))
    return (
        Facet("theme", tuple(Named(*r) for r in themes)),
        Facet("department", tuple(Named(*r) for r in departments)),
        Facet("open_class", tuple(Named(c, c, c, n) for c, n in classes)),
        Facet("format", tuple(Named(f, f, f, n) for f, n in formats)),
        Facet("tag", tuple(Named(t, t, t, n) for t, n in tags)),
    )


def _totals(session: Session, visible) -> PortalTotals:
    datasets, views, downloads = session.execute(
        select(func.count(visible.c.id), func.coalesce(func.sum(visible.c.view_count), 0),
               func.coalesce(func.sum(visible.c.download_count), 0))).one()
    records = session.scalar(select(func.coalesce(func.sum(public_records(Version, visible.c)), 0))
                             .join(visible, visible.c.current_version_id == Version.id)) or 0
    api_calls = session.scalar(select(Counter.value).where(Counter.name == "api_calls")) or 0
    return PortalTotals(datasets=datasets, records=int(records), downloads=int(downloads),
                        views=int(views), api_calls=int(api_calls))


def _summaries(session: Session, query: Select) -> tuple[DatasetSummary, ...]:
    return tuple(_summary(d) for d in session.scalars(with_summary_relations(query)))


def _summary(d: Dataset) -> DatasetSummary:
    current = d.current_version
    hidden = current is not None and approximate(d.open_class, d.disclosure, current.sample_epsilon)
    return DatasetSummary(
        slug=d.slug, title_zh=d.title_zh, title_en=d.title_en,
        description_zh=d.description_zh, description_en=d.description_en,
        theme=Named(d.theme.code, d.theme.name_zh, d.theme.name_en),
        department=Named(d.department.slug, d.department.name_zh, d.department.name_en),
        open_class=d.open_class, synthetic=d.synthetic, updated_at=as_utc(d.updated_at),
        row_count=current.row_count if current and not hidden else None,
        row_count_approx=current.row_count_approx if current and hidden else None,
        source_format=current.source_format if current else None,
        view_count=d.view_count, download_count=d.download_count,
        tags=tuple(t.name for t in d.tags), demo_sample=d.demo_sample,
    )


def _detail(d: Dataset, versions: tuple[VersionInfo, ...]) -> DatasetDetail:
    return DatasetDetail(
        summary=_summary(d), closed_reason=d.closed_reason,
        licence={"name": d.licence_name, "title": d.licence_title, "url": d.licence_url},
        sources=d.sources or [], update_frequency=d.update_frequency,
        temporal_start=d.temporal_start, temporal_end=d.temporal_end,
        spatial_zh=d.spatial_zh, spatial_en=d.spatial_en,
        contact_name=d.contact_name, contact_email=d.contact_email, created_at=as_utc(d.created_at),
        coordinates=d.coordinates,
        fields=tuple(FieldInfo(f.name, f.type, f.description_zh, f.description_en, f.unit, f.identifier, f.sensitive,
                                tuple(f.aggregates or ()), f.minimum, f.maximum,
                                tuple(f.levels) if f.levels is not None else None, bool(f.required))
                     for f in d.fields),
        versions=versions,
        tags_zh=tuple(t.name for t in d.tags if t.lang == "zh"),
        tags_en=tuple(t.name for t in d.tags if t.lang == "en"),
        disclosure_mode=mode_in_force(d.disclosure) if d.open_class == "conditional" else None,
    )


def summaries_by_id(session: Session, actor: Actor, ids: list[int]) -> dict[int, DatasetSummary]:
    """Summaries of the datasets among `ids` that the actor may see (search results: the index
    proposes, this query disposes, so a stale index can never show a hidden dataset)."""
    if not ids:
        return {}
    rows = session.scalars(with_summary_relations(visible_datasets(actor).where(Dataset.id.in_(ids))))
    return {d.id: _summary(d) for d in rows}


def facet_names(session: Session) -> dict[str, dict[str, Named]]:
    """The names of themes, departments and tags by key, for labelling facet values; a tag's
    name is empty in a language it is not stored in."""
    themes = {t.code: Named(t.code, t.name_zh, t.name_en) for t in session.scalars(select(Theme))}
    departments = {d.slug: Named(d.slug, d.name_zh, d.name_en) for d in session.scalars(select(Department))}
    languages: dict[str, set[str]] = {}
    for name, lang in session.execute(select(Tag.name, Tag.lang).distinct()):
        languages.setdefault(name, set()).add(lang)
    # A tag is named only in the languages it is stored in: a page shows the tags of its language.
    tags = {name: Named(name, name if "zh" in langs else "", name if "en" in langs else "")
            for name, langs in languages.items()}
    return {"theme": themes, "department": departments, "tag": tags}
