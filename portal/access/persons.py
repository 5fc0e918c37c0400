"""One person behind several accounts: whose budgets a new grant charges (decision 0031e).

The disclosure budgets are kept per account and dataset (decisions 0030u, 0030w). A person who
registers a second account and is granted the dataset again would get a second budget; so an
approval looks for the same verified applicant among the accounts that hold or held a grant on
the dataset, and the new grant charges the first such account's ledgers.

An account's verified identities are the digests (`Application.id_digest`) of its applications
a steward approved (each approval made grants): a digest on a refused or pending application has
not been checked against documents, and binds nothing. Queries only; no commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access.models import Application, Grant
from portal.accounts.models import User
from portal.catalog.models import Dataset


def verified_digests(session: Session, user_id: int) -> set[str]:
    """The identity digests of the account's approved applications (those that made grants)."""
    return set(session.scalars(select(Application.id_digest).distinct().join(Grant, Grant.application_id == Application.id)
                               .where(Application.user_id == user_id, Application.id_digest.is_not(None))))


def accounts_of(session: Session, digests: Iterable[str]) -> set[int]:
    """Every account with an approved application carrying one of `digests`."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    return set(session.scalars(select(Application.user_id).distinct().join(Grant, Grant.application_id == Application.id)
                               .where(Application.id_digest.in_(wanted))))


def budget_account(session: Session, user_id: int, dataset_id: int, digests: Iterable[str] = ()) -> int:
    """The account whose ledgers a new grant of `user_id` on the dataset charges: that of the
    first grant on it (by id) held by any account of the same person (`digests`: the applicant's
    identities), following where that grant charges; the account itself when there is none."""
    accounts = accounts_of(session, digests) | {user_id}
    first = session.execute(select(Grant.user_id, Grant.budget_user_id).where(
        Grant.dataset_id == dataset_id, Grant.user_id.in_(sorted(accounts))).order_by(Grant.id).limit(1)).first()
    if first is None:
        return user_id
    return first.budget_user_id or first.user_id


def other_accounts(session: Session, user_id: int, digest: str | None) -> list[tuple[str, list[str]]]:
    """The other accounts of the same applicant (`digest`) holding or having held grants, each
    with the datasets of those grants: what the steward is warned of before approving."""
    if not digest:
        return []
    others = accounts_of(session, [digest]) - {user_id}
    if not others:
        return []
    rows = session.execute(select(User.email, Dataset.slug).distinct().join(Grant, Grant.user_id == User.id)
                           .join(Dataset, Dataset.id == Grant.dataset_id).where(User.id.in_(sorted(others)))
                           .order_by(User.email, Dataset.slug))
    found: dict[str, list[str]] = {}
    for email, slug in rows:
        found.setdefault(email, []).append(slug)
    return list(found.items())
