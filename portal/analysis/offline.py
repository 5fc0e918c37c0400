"""Offline runs: the analyst's code over downloaded sample data, on their own machine.

A conditional dataset's page offers its synthetic sample (样本数据) as a small Data Package
(`sample.zip`: the rows plus a `datapackage.json` with the data dictionary and its identifier and
sensitive flags). `kaifang offline-run` runs a file of analysis code over such packages with the
very same sandbox, data API, plan policy and disclosure control as the portal, so code written
against the sample runs unchanged in a portal session, refusals included. Nothing here touches a
database: no grants, no audit, no budget. A bare CSV with no dictionary is treated as open data.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sandbox
from portal import store
from portal.analysis.broker import Broker, GrantedSource
from portal.analysis.disclosure import CellKeyNoise, Rules
from portal.analysis.epsilon import EpsilonBudget
from portal.analysis.policy import SourceInfo, may_be_missing_or_zero
from portal.analysis.private_queries import PrivateAnswers, PrivateSource, implied_levels
from portal.catalog.disclosure_settings import PrivacySettings, sum_bounds
from portal.catalog.packages import read_sample


@dataclass(frozen=True)
class LocalData:
    """One local table: its slug (the name code uses in `dataset(...)`), rows, and dictionary."""

    slug: str
    rows: Path
    conditional: bool = False
    identifiers: frozenset[str] = frozenset()
    sensitive: frozenset[str] = frozenset()
    types: tuple[tuple[str, str], ...] = ()
    disclosure: dict[str, Any] | None = None
    bounds: tuple[tuple[str, tuple[float, float]], ...] = ()
    levels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    required: frozenset[str] = frozenset()  # declared `constraints.required`


def read_local(path: Path, scratch: Path) -> LocalData:
    """A sample package (zip or folder with datapackage.json) or a bare table file `SLUG.csv`."""
    if path.suffix == ".zip":
        target = scratch / path.stem
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if "/" in member or member.startswith("."):
                    raise ValueError(f"{path.name}: unexpected member {member!r}")
            archive.extractall(target)
        path = target
    if path.is_dir():
        return _described(path)
    return LocalData(slug=path.name.split(".")[0], rows=path)


def _described(folder: Path) -> LocalData:
    package = read_sample(folder)
    return LocalData(
        slug=package.slug, rows=package.rows, conditional=package.conditional,
        identifiers=package.identifiers, sensitive=package.sensitive, types=package.types,
        disclosure=package.disclosure,
        bounds=tuple((f.name, f.bounds) for f in package.fields if f.bounds),
        levels=tuple((f.name, f.levels) for f in package.fields if f.levels),
        required=frozenset(f.name for f in package.fields if f.required),
    )


def run_offline(code: str, paths: list[Path]) -> dict[str, Any]:
    """Run `code` over local data; returns the same result dict as a portal run.

    Raises:
        store.IngestError: a file cannot be read as a table.
        ValueError: a malformed sample package.
    """
    with tempfile.TemporaryDirectory(prefix="kaifang-offline-") as scratch:
        local = [read_local(p, Path(scratch)) for p in paths]
        sources = {d.slug: _source(d, Path(scratch)) for d in local}
        broker = Broker(sources, noise=CellKeyNoise(b"offline sample"), budget_left={}, quantum=0,
                        private=_private(local, sources))
        result = sandbox.run(sandbox.RunRequest(code=code, grants=tuple(sources), run_id="offline"), broker).to_dict()
    result["offline_notes"] = [
        f"{d.slug}: {'conditional: aggregates only, as in the portal' if d.conditional else 'open data'}"
        for d in local]
    return result


def _private(local: list[LocalData], sources: dict[str, GrantedSource]) -> PrivateAnswers | None:
    """Datasets whose descriptor chooses the ε-budget mode are answered by it offline too, with
    a fresh daily budget per run (there is no ledger here: the sample holds no real record)."""
    private, daily = {}, {}
    for number, data in enumerate(local):
        settings = PrivacySettings.resolve(data.disclosure)
        if not data.conditional or settings.mode != "dp":
            continue
        source = sources[data.slug]
        private[data.slug] = PrivateSource(
            number, settings.epsilon_per_query, bounds=dict(data.bounds),
            sum_bounds=settings.effective_bounds(dict(data.bounds)), max_groups=source.rules.max_groups,
            levels=implied_levels(source.table.columns, dict(data.bounds), dict(data.levels)),
            person=settings.person, records_per_person=settings.records_per_person)
        daily[number] = settings.daily_epsilon
    return PrivateAnswers(private, EpsilonBudget(daily=daily, spent_before={})) if private else None


def _source(data: LocalData, scratch: Path) -> GrantedSource:
    ingested = store.ingest(data.rows, scratch / "tables" / data.slug, overrides=dict(data.types) or None)
    missing, zero = may_be_missing_or_zero((c.name for c in ingested.columns), dict(data.bounds), data.required)
    info = SourceInfo(slug=data.slug, conditional=data.conditional,
                      columns=tuple(c.name for c in ingested.columns),
                      identifiers=data.identifiers, sensitive=data.sensitive,
                      bounds=dict(data.bounds), levels=dict(data.levels),
                      sum_bounds=sum_bounds(data.disclosure, dict(data.bounds)),
                      missing=missing, zero=zero)
    salt = int.from_bytes(hashlib.sha256(data.slug.encode()).digest()[:7], "big")
    return GrantedSource(info=info, table=store.StoredTable(ingested.path, ingested.columns),
                         rules=Rules.with_overrides(data.disclosure), row_salt=salt)
