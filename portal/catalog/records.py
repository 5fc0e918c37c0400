"""Catalog-wide records for the interoperability outputs (CKAN API, DCAT, data.json, Data Packages).

These services return the full `DatasetDetail` of many datasets at once, in a fixed number of
queries, always through `visible_datasets(actor)`: the feeds and the CKAN API can show nothing a
visitor could not open on the site. Which datasets a free-text query matches is decided by
`portal.search.service.matching_slugs`, so the CKAN API ranks as the site does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from portal import store
from portal.auth import Actor
from portal.catalog.models import Dataset, Department, Tag, Version
from portal.catalog.queries import visible_datasets, with_summary_relations
from portal.catalog.record_counts import approximate
from portal.catalog.rows import stored_table
from portal.catalog.schemas import DatasetDetail, Named, VersionInfo
from portal.catalog.service import _detail
from portal.errors import BadRequest, NotFound


def list_records(session: Session, actor: Actor, *, slugs: tuple[str, ...] | None = None) -> tuple[DatasetDetail, ...]:
    """The full records of the datasets the actor can see (all of them, or those in `slugs`),
    newest change first. Three queries whatever the number of datasets."""
    query = visible_datasets(actor)
    if slugs is not None:
        query = query.where(Dataset.slug.in_(slugs))
    return _records(session, query.order_by(Dataset.updated_at.desc(), Dataset.id.desc()))


def get_record(session: Session, actor: Actor, slug: str) -> DatasetDetail:
    """One visible dataset's full record.

    Raises:
        NotFound: no visible dataset with that slug (drafts count as missing).
    """
    found = list_records(session, actor, slugs=(slug,))
    if not found:
        raise NotFound("dataset", slug)
    return found[0]


def list_slugs(session: Session, actor: Actor) -> tuple[str, ...]:
    """The slugs of the visible datasets, alphabetically (CKAN's `package_list`)."""
    return tuple(session.scalars(visible_datasets(actor).with_only_columns(Dataset.slug).order_by(Dataset.slug)))


def list_departments(session: Session, actor: Actor) -> tuple[Named, ...]:
    """Every department by slug, each with the number of datasets the actor can see."""
    visible = visible_datasets(actor).subquery()
    rows = session.execute(
        select(Department.slug, Department.name_zh, Department.name_en, func.count(visible.c.id))
        .outerjoin(visible, visible.c.department_id == Department.id)
        .group_by(Department.id).order_by(Department.slug))
    return tuple(Named(*row) for row in rows)


def list_tags(session: Session, actor: Actor) -> tuple[Named, ...]:
    """The tags (both languages) of the visible datasets, alphabetically, with their counts."""
    ids = visible_datasets(actor).with_only_columns(Dataset.id).subquery()
    rows = session.execute(select(Tag.name, func.count(Tag.dataset_id)).where(Tag.dataset_id.in_(select(ids.c.id)))
                           .group_by(Tag.name).order_by(Tag.name))
    return tuple(Named(name, name, name, count) for name, count in rows)


def search_rows(session: Session, actor: Actor, slug: str, query: store.RowQuery, *,
                data_dir: Path) -> store.RowPage:
    """A page of an open dataset's current rows for any row query (CKAN's `datastore_search`).

    Raises:
        NotFound: no such visible dataset, or no data yet.
        Forbidden: conditional or closed (code `rows-not-open`); no row is read.
        BadRequest: the store refused the query (unknown column, bad value...).
    """
    _, table = stored_table(session, actor, slug, data_dir=data_dir)
    try:
        return store.query_rows(table, query)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc


def _records(session: Session, query: Select) -> tuple[DatasetDetail, ...]:
    datasets = list(session.scalars(with_summary_relations(query).options(selectinload(Dataset.fields))))
    versions: dict[int, list[VersionInfo]] = defaultdict(list)
    if datasets:
        ids = [d.id for d in datasets]
        by_id = {d.id: d for d in datasets}
        for version in session.scalars(select(Version).where(Version.dataset_id.in_(ids))
                                       .order_by(Version.dataset_id, Version.number.desc())):
            d = by_id[version.dataset_id]
            versions[version.dataset_id].append(VersionInfo.from_model(
                version, conditional=d.open_class != "open",  # records not public
                approximate=approximate(d.open_class, d.disclosure, version.sample_epsilon)))
    return tuple(_detail(d, tuple(versions[d.id])) for d in datasets)
