"""A dataset as the sandbox broker sees it: its current data, the data dictionary's flags and the
declared disclosure settings. Read without an actor: whether one may analyse the dataset is
decided before (`portal.access.service.usable_datasets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.analysis.policy import may_be_missing_or_zero
from portal.catalog.models import Dataset
from portal.errors import NotFound


@dataclass(frozen=True)
class AnalysisSource:
    """A dataset as the sandbox broker needs it: current data, dictionary flags, disclosure settings."""

    slug: str
    open_class: str
    version: int
    table: store.StoredTable
    identifiers: frozenset[str]
    sensitive: frozenset[str]
    disclosure: dict | None
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # declared, public
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # declared category levels
    # Fields that may be missing, and fields that may be zero, by the data dictionary (conditional
    # data only; None: not known, so any field may). Never read from the data (decision 0028e).
    missing: frozenset[str] | None = None
    zero: frozenset[str] | None = None


def analysis_source(session: Session, slug: str, *, data_dir: Path, loaded: Dataset | None = None) -> AnalysisSource:
    """The current version of a dataset for the broker. Trusted callers only: whether the actor
    may analyse it is decided by `portal.access.service.usable_datasets` before this is called.
    `loaded` is the dataset as that check loaded it (with its version and fields, in this
    session): it is used instead of being read a second time.

    Raises:
        NotFound: no such dataset, or no data yet.
    """
    dataset = loaded
    if dataset is None or dataset.slug != slug:
        dataset = session.scalar(select(Dataset).where(Dataset.slug == slug).options(
            selectinload(Dataset.current_version), selectinload(Dataset.fields)))
    if dataset is None or dataset.current_version is None:
        raise NotFound("dataset", slug)
    version = dataset.current_version
    columns = tuple(store.Column(c["name"], c["type"]) for c in version.columns)
    table = store.StoredTable(data_dir / version.storage_path, columns)
    bounds = {f.name: (f.minimum, f.maximum) for f in dataset.fields if f.minimum is not None and f.maximum is not None}
    missing = zero = None
    if dataset.open_class == "conditional":  # record keys from the version's keyed copy (decision 0024a)
        table = replace(table, keyed=store.keyed(table))
        # From the dictionary, not the file's statistics: those told whether one record with a
        # missing value or a zero was in the version (eighteenth round, decision 0028e).
        missing, zero = may_be_missing_or_zero((c.name for c in columns), bounds,
                                               (f.name for f in dataset.fields if f.required))
    return AnalysisSource(
        slug=slug, open_class=dataset.open_class, version=version.number,
        table=table,
        identifiers=frozenset(f.name for f in dataset.fields if f.identifier),
        sensitive=frozenset(f.name for f in dataset.fields if f.sensitive),
        disclosure=dataset.disclosure,
        bounds=bounds,
        levels={f.name: tuple(f.levels) for f in dataset.fields if f.levels},
        missing=missing,
        zero=zero,
    )
