"""Which datasets a notebook can use, and what the page shows of them.

A session may name open datasets and the conditional ones under an active grant (the same rule
`access.usable_datasets` applies to every run); closed ones never. What the page receives is
public metadata only, cut to the grant's columns: names, types, descriptions, declared levels
(for completion and for telling suppressed groups apart) and whether a sample can be downloaded.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session, selectinload

from portal.access.service import UsableDataset, usable_each
from portal.analysis.disclosure import Rules
from portal.auth import Actor
from portal.catalog.disclosure_settings import EpsilonDefaults, mode_in_force
from portal.catalog.models import Dataset
from portal.catalog.queries import visible_datasets
from portal.filters import localized
from portal.sessions.service import cell_budgets


def startable(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Datasets a new session may use: conditional ones under a grant first, then open ones."""
    found = session.scalars(visible_datasets(actor).where(Dataset.open_class.in_(("open", "conditional")),
                                                          Dataset.current_version_id.is_not(None))
                            .order_by(Dataset.open_class, Dataset.slug)).all()
    usable = usable_each(session, actor, [d.slug for d in found if d.open_class == "conditional"])
    granted = []
    for dataset in found:
        if dataset.open_class == "conditional" and dataset.slug not in usable:
            continue
        granted.append({"slug": dataset.slug, "title": localized(dataset, "title"), "open_class": dataset.open_class})
    return granted


def describe(session: Session, actor: Actor, slugs: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The session's datasets as the page shows them. A dataset whose grant has ended since the
    session opened is still described (from public metadata), marked `usable: False`."""
    rows = session.scalars(visible_datasets(actor).where(Dataset.slug.in_(list(slugs)))
                           .options(selectinload(Dataset.fields), selectinload(Dataset.current_version))).all()
    by_slug = {d.slug: d for d in rows}
    usable_now = usable_each(session, actor, slugs)
    described = []
    for slug in slugs:
        dataset = by_slug.get(slug)
        if dataset is None:
            continue
        usable = usable_now.get(slug)
        visible = usable.columns if usable is not None else None
        fields = [{"name": f.name, "type": f.type, "description": localized(f, "description"),
                   "levels": list(f.levels) if f.levels else None, "identifier": f.identifier,
                   "sensitive": f.sensitive}
                  for f in sorted(dataset.fields, key=lambda f: f.position) if visible is None or f.name in visible]
        version = dataset.current_version
        described.append({"slug": slug, "title": localized(dataset, "title"), "open_class": dataset.open_class,
                          "version": version.number if version else None, "usable": usable is not None,
                          "has_sample": bool(version and version.sample_path), "fields": fields,
                          "mode": _mode(dataset, usable)})
    return described


def _mode(dataset: Dataset, usable: UsableDataset | None) -> str | None:
    """The disclosure mode the session's runs meet on a conditional dataset (None on open data):
    the grant's, else the dataset's declared one (decision 0030q)."""
    if dataset.open_class != "conditional":
        return None
    return mode_in_force(dataset.disclosure, usable.disclosure_mode if usable is not None else None)


def declared_levels(datasets: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Group keys with public levels, by column name, from the session's conditional datasets
    (a name declared differently by two datasets is left out: the page could not tell which)."""
    levels: dict[str, list[Any]] = {}
    clashes = set()
    for d in datasets:
        if d["open_class"] != "conditional":
            continue
        for f in d["fields"]:
            if not f["levels"]:
                continue
            if f["name"] in levels and levels[f["name"]] != f["levels"]:
                clashes.add(f["name"])
            levels[f["name"]] = f["levels"]
    return {name: values for name, values in levels.items() if name not in clashes}



def budgets(session: Session, actor: Actor, slugs: list[str] | tuple[str, ...],
            defaults: EpsilonDefaults | None = None) -> dict[str, Any]:
    """What is left today of each conditional grant's cell budget (the ledger `submit_run` charges,
    on the same calendar day) or, in the ε-budget mode, of its ε, and the query cap of one run
    (the strictest of the datasets)."""
    usable = usable_each(session, actor, slugs)
    caps = [Rules.with_overrides(u.dataset.disclosure).queries_per_run for u in usable.values() if u.dataset is not None]
    grants = [asdict(c) for c in cell_budgets(session, usable.values(), defaults)]
    return {"grants": grants, "queries_per_run": min(caps) if caps else None}
