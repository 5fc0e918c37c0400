"""Who may do what with the catalog: pure predicates, plus `require` that raises Forbidden.

Open classes (see docs/architecture.md): `open` rows are public; `conditional` rows are never
served as rows (only the sandbox's disclosure-controlled aggregates, with a grant); `closed`
datasets are listed with their reason and nothing else.
"""

from __future__ import annotations

from portal.auth import Actor
from portal.errors import Forbidden


def can_view_rows(actor: Actor, open_class: str) -> bool:  # noqa: ARG001 - actor kept for the grant rules to come
    """Rows (preview, download, row API) are served for `open` datasets only, to anyone."""
    return open_class == "open"


def can_publish(actor: Actor, department_id: int | None) -> bool:
    """Stewards and admins publish anywhere; a publisher only for their own department."""
    if actor.at_least("steward"):
        return True
    return actor.role == "publisher" and department_id is not None and actor.department_id == department_id


def can_view_drafts(actor: Actor, department_id: int) -> bool:
    return can_publish(actor, department_id)


def require(allowed: bool, action: str, *, type_url: str | None = None, code: str = "forbidden") -> None:
    if not allowed:
        raise Forbidden(f"you may not {action}", code=code, type_url=type_url)


def can_view_dataset(actor: Actor, *, published: bool, department_id: int | None) -> bool:
    """The rule of `queries.visible_datasets`, for a record already in hand (cached lookups).

    Kept beside the query it mirrors; tests check the two agree for every role.
    """
    if actor.at_least("steward"):
        return True
    if actor.role == "publisher" and actor.department_id is not None:
        return published or department_id == actor.department_id
    return published
