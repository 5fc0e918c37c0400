"""Select builders of the catalog. Visibility is one query that every list and search uses."""

from __future__ import annotations

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import selectinload

from portal.auth import Actor
from portal.catalog.models import Dataset


def visible_datasets(actor: Actor) -> Select[tuple[Dataset]]:
    """Published datasets, plus drafts of the departments the actor publishes for.

    Closed datasets are visible (listed with the reason they are closed); they only never show rows.
    """
    query = select(Dataset)
    if actor.at_least("steward"):
        return query
    if actor.role == "publisher" and actor.department_id is not None:
        return query.where(or_(Dataset.published, Dataset.department_id == actor.department_id))
    return query.where(Dataset.published)


def with_summary_relations(query: Select) -> Select:
    return query.options(selectinload(Dataset.theme), selectinload(Dataset.department),
                         selectinload(Dataset.tags), selectinload(Dataset.current_version))


def nothing(query: Select) -> Select:
    return query.where(false())
