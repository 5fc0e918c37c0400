"""Shared steps of the application lifecycle: recording a transition (state, history row, who to
notify) and shaping rows into summaries. Private to `portal/access`: no permission checks and no
commits here; the public functions in `applications.py` and `reviews.py` make both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session, aliased

from portal.access.models import (
    Application,
    ApplicationEvent,
    CellAccountTotal,
    EpsilonAccountTotal,
    Grant,
)
from portal.access.schemas import (
    ApplicationDetail,
    ApplicationSummary,
    EventSummary,
    GrantSummary,
    Transition,
)
from portal.access.workdays import add_working_days
from portal.accounts.models import User
from portal.auth import Actor
from portal.catalog.disclosure_settings import (
    EpsilonDefaults,
    PrivacySettings,
    mode_in_force,
    resolve_lifetime_cells,
)
from portal.catalog.models import Dataset, utcnow
from portal.catalog.schemas import as_utc, as_utc_or_none
from portal.errors import Conflict, NotFound


def record_transition(session: Session, actor: Actor, row: Application, to: str, reason: str, *,
          review_days: int | None = None) -> Transition:
    now = utcnow()
    before = row.state
    row.state = to
    if to == "submitted":
        row.submitted_at = now
        row.due_at = add_working_days(now, review_days or 0)
    elif to in ("approved", "refused"):
        row.decided_at = now
    session.add(ApplicationEvent(application_id=row.id, actor_email=actor.email or "", at=now,
                                 from_state=before, to_state=to, reason=reason))
    applicant = session.scalar(select(User.email).where(User.id == row.user_id)) or ""
    stewards = tuple(session.scalars(select(User.email).where(User.role.in_(("steward", "admin")), User.active.is_(True))))
    return Transition(row.id, applicant, tuple(row.datasets), before, to, reason, stewards)


def expect_state(row: Application, states: tuple[str, ...]) -> None:
    if row.state not in states:
        raise Conflict(f"application {row.id} is {row.state}; this needs one that is {' or '.join(states)}",
                       code="application-state")


def end_grants(session: Session, row: Application) -> None:
    now = utcnow()
    for grant in session.scalars(select(Grant).where(Grant.application_id == row.id, Grant.revoked_at.is_(None))):
        grant.revoked_at = now


def in_force(session: Session, row: Application, now: datetime) -> bool:
    return session.scalar(select(Grant.id).where(Grant.application_id == row.id, Grant.revoked_at.is_(None),
                                                 Grant.expires_at > now).limit(1)) is not None


def get_row(session: Session, application_id: int) -> Application:
    row = session.get(Application, application_id)
    if row is None:
        raise NotFound("application", str(application_id))
    return row


def summarise(session: Session, row: Application, *, now: datetime | None = None,
              defaults: EpsilonDefaults | None = None) -> ApplicationSummary:
    """The application with its grants; its times in UTC with the zone (`as_utc`), as the
    sessions' and the catalogue's outputs carry them (`now`: naive UTC, as stored)."""
    now = now or utcnow()
    applicant = session.scalar(select(User.email).where(User.id == row.user_id)) or ""
    grants = [grant_summary(grant, applicant, slug, disclosure, now, spent, defaults, cells, budget)
              for grant, slug, disclosure, spent, cells, budget in session.execute(with_account_totals(
                  select(Grant, Dataset.slug, Dataset.disclosure).join(Dataset, Dataset.id == Grant.dataset_id)
                  .where(Grant.application_id == row.id).order_by(Grant.id)))]
    overdue = row.state == "submitted" and row.due_at is not None and row.due_at < now
    return ApplicationSummary(row.id, applicant, list(row.datasets), row.purpose, row.organisation, row.fields_wanted,
                              row.intended_outputs, row.duration_days, row.state, as_utc(row.created_at),
                              as_utc_or_none(row.submitted_at), as_utc_or_none(row.due_at),
                              as_utc_or_none(row.decided_at), row.renews_id, overdue, grants,
                              row.applicant_name, row.document_type, row.id_last4, row.credit_code)


def describe(session: Session, row: Application, *, defaults: EpsilonDefaults | None = None) -> ApplicationDetail:
    """The summary and the application's history, oldest first (one statement for the events)."""
    found = summarise(session, row, defaults=defaults)
    events = [EventSummary(e.actor_email, as_utc(e.at), e.from_state, e.to_state, e.reason) for e in session.scalars(
        select(ApplicationEvent).where(ApplicationEvent.application_id == row.id).order_by(ApplicationEvent.id))]
    return ApplicationDetail(**{f.name: getattr(found, f.name) for f in fields(found)}, events=events)


@dataclass(frozen=True)
class DatasetTitle:
    slug: str
    title_zh: str
    title_en: str


def dataset_titles(session: Session, slugs: Iterable[str]) -> dict[str, DatasetTitle]:
    """Both titles of the named datasets (one statement), for pages that list applications and
    grants by dataset: they show a title in the page's language, the slug beside it."""
    wanted = sorted(set(slugs))
    if not wanted:
        return {}
    return {slug: DatasetTitle(slug, zh, en) for slug, zh, en in session.execute(
        select(Dataset.slug, Dataset.title_zh, Dataset.title_en).where(Dataset.slug.in_(wanted)))}


def with_account_totals(query: Select) -> Select:
    """`query` (of grants) with what the account each grant charges (its own, or the same
    applicant's first: decision 0031e) has spent on its dataset in all, ε and cells, for the
    grant's lifetime budget (null when nothing is recorded), and that account's email when it is
    not the grant's own."""
    charged = func.coalesce(Grant.budget_user_id, Grant.user_id)
    budget = aliased(User)
    return query.add_columns(EpsilonAccountTotal.epsilon, CellAccountTotal.cells, budget.email).outerjoin(
        EpsilonAccountTotal, and_(EpsilonAccountTotal.user_id == charged, EpsilonAccountTotal.dataset_id == Grant.dataset_id)
    ).outerjoin(CellAccountTotal, and_(CellAccountTotal.user_id == charged, CellAccountTotal.dataset_id == Grant.dataset_id)
    ).outerjoin(budget, and_(budget.id == Grant.budget_user_id, Grant.budget_user_id != Grant.user_id))


def grant_summary(grant: Grant, email: str, slug: str, disclosure: dict | None, now: datetime,
                  account_spent: float | None = None, defaults: EpsilonDefaults | None = None,
                  account_cells: int | None = None, budget_account: str | None = None) -> GrantSummary:
    """`disclosure`: the dataset's declared settings, for the mode the grant is in and its
    lifetime budget; `account_spent`, `account_cells`: what the account the grant charges has
    spent on the dataset in all (ε, cells); `budget_account`: that account's email when it is
    not the grant's own."""
    status = "revoked" if grant.revoked_at is not None else "expired" if grant.expires_at <= now else "active"
    mode = mode_in_force(disclosure, grant.disclosure_mode)
    defaults = defaults or EpsilonDefaults()
    lifetime = spent = left = None
    cells = (None, None, None)
    if mode == "sdc":
        allowed = resolve_lifetime_cells(disclosure, daily=grant.daily_cell_budget or 0,
                                         grant_lifetime=grant.lifetime_cells, defaults=defaults)
        released = max(0, (account_cells or 0) - (grant.cells_before or 0))
        cells = (allowed, released, max(0, allowed - released))
    if mode == "dp":
        lifetime = PrivacySettings.resolve(disclosure, grant_mode=mode, grant_daily=grant.daily_epsilon,
                                           grant_lifetime=grant.lifetime_epsilon,
                                           defaults=defaults).lifetime_epsilon
        spent = round(max(0.0, (account_spent or 0.0) - (grant.epsilon_before or 0.0)), 6)
        left = round(max(0.0, lifetime - spent), 6)
    return GrantSummary(grant.id, email, slug, grant.version, list(grant.columns) if grant.columns is not None else None,
                        list(grant.row_filter or []), grant.daily_cell_budget, as_utc(grant.created_at),
                        as_utc(grant.expires_at), as_utc_or_none(grant.revoked_at), grant.application_id, status, mode, lifetime,
                        spent, left, *cells,
                        budget_account)
