"""The stewards' side of applications: the review queue with its SLA clock, approval with a
scope (one grant per dataset), refusal, revocation, expiry, and the list of grants.

The SLA clock is `ACCESS_REVIEW_WORKING_DAYS` working days in China's calendar
(`workdays.py`), set when an application is submitted (`Application.due_at`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal import store
from portal.access import persons
from portal.access.applications import Changed, DatasetChoice, conditional_datasets
from portal.access.history import (
    expect_state,
    get_row,
    grant_summary,
    in_force,
    record_transition,
    summarise,
    with_account_totals,
)
from portal.access.models import Application, Grant
from portal.access.permissions import can_review_applications
from portal.access.schemas import (
    MAX_DURATION_DAYS,
    ApplicationSummary,
    ApprovalScope,
    DatasetScope,
    GrantSummary,
    Transition,
)
from portal.access.service import budget_holder
from portal.access.workdays import calendar
from portal.accounts.models import User
from portal.auth import Actor
from portal.catalog.disclosure_settings import MODES, EpsilonDefaults
from portal.catalog.models import Dataset, Version, utcnow
from portal.catalog.permissions import require
from portal.errors import Conflict, Invalid, NotFound
from portal.store.queries import where_clause


def approve_application(session: Session, actor: Actor, application_id: int, scope: ApprovalScope) -> Changed:
    """Approve with a scope: one grant per dataset (version, columns, rows, budget, expiry, and the
    disclosure mode when the steward accredits the analyst for the statistical one: 0030q).

    Raises:
        Forbidden: not a steward. NotFound: no such application. Conflict: not submitted.
        Invalid: a dataset not in the application, an unknown version, column or operator, an
            expiry in the past or beyond the longest grant.
    """
    require(can_review_applications(actor), "decide-application")
    row = get_row(session, application_id)
    expect_state(row, ("submitted",))
    _check_scope(session, row, scope)
    expires = datetime.combine(scope.expires_on, time(23, 59, 59)) - timedelta(hours=8)  # end of day, China
    # the applicant's identities: this application's, and those a steward approved before
    digests = persons.verified_digests(session, row.user_id) | ({row.id_digest} if row.id_digest else set())
    for item in scope.datasets:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.slug == item.slug))
        # one person, one budget: the same applicant's first account on the dataset (0031e)
        session.add(Grant(user_id=row.user_id, dataset_id=dataset_id, purpose=row.purpose,
                          granted_by=actor.email or "", daily_cell_budget=scope.daily_cell_budget,
                          expires_at=expires, version=item.version, application_id=row.id,
                          columns=list(item.columns) if item.columns is not None else None,
                          row_filter=[dict(f) for f in item.row_filter] or None,
                          disclosure_mode=scope.disclosure_mode, lifetime_epsilon=scope.lifetime_epsilon,
                          daily_epsilon=scope.daily_epsilon, lifetime_cells=scope.lifetime_cells,
                          **budget_holder(session, row.user_id, dataset_id, digests)))
    transition = record_transition(session, actor, row, "approved", scope.note)
    session.commit()
    return Changed(summarise(session, row), transition)


def refuse_application(session: Session, actor: Actor, application_id: int, *, reason: str) -> Changed:
    """Refuse, with the reason the applicant will read.

    Raises:
        Forbidden: not a steward. NotFound. Conflict: not submitted. Invalid: no reason.
    """
    require(can_review_applications(actor), "decide-application")
    if not reason.strip():
        raise Invalid("a refusal gives its reason", errors={"reason": ["required"]})
    row = get_row(session, application_id)
    expect_state(row, ("submitted",))
    transition = record_transition(session, actor, row, "refused", reason.strip())
    session.commit()
    return Changed(summarise(session, row), transition)


def revoke_grant(session: Session, actor: Actor, grant_id: int, *, reason: str) -> Transition | None:
    """End one grant now; when it was its application's last grant in force, the application is
    revoked. Returns the application's transition, if any.

    Raises:
        Forbidden: not a steward. NotFound: no such grant. Invalid: no reason. Conflict: revoked already.
    """
    require(can_review_applications(actor), "revoke-grant")
    if not reason.strip():
        raise Invalid("a revocation gives its reason", errors={"reason": ["required"]})
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("grant", str(grant_id))
    if grant.revoked_at is not None:
        raise Conflict("this grant is revoked already", code="grant-revoked")
    grant.revoked_at = utcnow()
    transition = None
    row = session.get(Application, grant.application_id) if grant.application_id else None
    if row is not None and row.state == "approved" and not in_force(session, row, utcnow()):
        transition = record_transition(session, actor, row, "revoked", reason.strip())
    session.commit()
    return transition


def expire_applications(session: Session, actor: Actor, *, now: datetime | None = None) -> list[Transition]:
    """Mark approved applications whose grants have all run out as expired (a scheduled job;
    the grants themselves stop working at their expiry whether or not this has run).

    Raises:
        Forbidden: not a steward (the CLI acts as the system).
    """
    require(can_review_applications(actor), "expire-applications")
    now = now or utcnow()
    moved = []
    for row in session.scalars(select(Application).where(Application.state == "approved")):
        if not in_force(session, row, now):
            moved.append(record_transition(session, actor, row, "expired", "every grant reached its expiry"))
    session.commit()
    return moved


def review_queue(session: Session, actor: Actor, *, now: datetime | None = None) -> list[ApplicationSummary]:
    """Submitted applications, the one due first at the top, each flagged when overdue.

    Raises:
        Forbidden: not a steward.
    """
    require(can_review_applications(actor), "review-applications")
    now = now or utcnow()
    rows = session.scalars(select(Application).where(Application.state == "submitted")
                           .order_by(Application.due_at, Application.id))
    return [summarise(session, row, now=now) for row in rows]


def list_grants(session: Session, actor: Actor, *, status: str = "active", now: datetime | None = None,
                defaults: EpsilonDefaults | None = None) -> list[GrantSummary]:
    """Grants, newest first: `active`, `ended` (expired or revoked) or `all`; in the ε-budget
    mode each with its lifetime ε spent and left (`defaults`: the portal's ε settings).

    Raises:
        Forbidden: not a steward.
    """
    require(can_review_applications(actor), "list-grants")
    now = now or utcnow()
    query: Select = with_account_totals(select(Grant, User.email, Dataset.slug, Dataset.disclosure)
                                         .join(User, User.id == Grant.user_id).join(Dataset, Dataset.id == Grant.dataset_id)
                                         .order_by(Grant.created_at.desc(), Grant.id.desc()))
    if status == "active":
        query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    elif status == "ended":
        query = query.where((Grant.revoked_at.is_not(None)) | (Grant.expires_at <= now))
    return [grant_summary(grant, email, slug, disclosure, now, spent, defaults, cells, budget)
            for grant, email, slug, disclosure, spent, cells, budget in session.execute(query.limit(500))]


@dataclass(frozen=True)
class ReviewContext:
    """What the steward's decision form offers: each applied-for dataset's versions and columns;
    and the other accounts of the same applicant (same identity document) that hold or held
    grants, each with those grants' datasets, which the page warns of (decision 0031e)."""

    datasets: list[DatasetChoice]
    same_applicant: list[tuple[str, list[str]]] = field(default_factory=list)


def review_context(session: Session, actor: Actor, application: ApplicationSummary) -> ReviewContext | None:
    """The scope form's choices for a steward; None for anyone else (the applicant's own view).

    Public: returns nothing to non-stewards.
    """
    if not can_review_applications(actor):
        return None
    row = get_row(session, application.id)
    return ReviewContext(conditional_datasets(session, actor, application.datasets),
                         persons.other_accounts(session, row.user_id, row.id_digest))


def calendar_gaps(queue: list[ApplicationSummary]) -> list[int]:
    """Years of the queue's due dates that the bundled holiday data does not cover (counted Monday
    to Friday): the page warns about them. Public: pure."""
    years = {a.due_at.year for a in queue if a.due_at} | {date.today().year}
    return sorted(y for y in years if not calendar().covered(y))


# -- private steps ---------------------------------------------------------------------------

def _check_budgets(scope: ApprovalScope, errors: dict[str, list[str]]) -> None:
    if scope.daily_cell_budget < 1:
        errors["daily_cell_budget"] = ["at least 1"]
    for name in ("daily_epsilon", "lifetime_epsilon"):
        value = getattr(scope, name)
        if value is not None and not 0 < value < math.inf:
            errors[name] = ["a positive number, or none for the dataset's or the portal's default"]
    if scope.lifetime_cells is not None and scope.lifetime_cells < 1:
        errors["lifetime_cells"] = ["at least 1, or none for the dataset's or the portal's default"]


def _check_scope(session: Session, row: Application, scope: ApprovalScope) -> None:
    errors: dict[str, list[str]] = {}
    if not scope.datasets:
        errors["datasets"] = ["approve at least one dataset"]
    if scope.expires_on < date.today() or scope.expires_on > date.today() + timedelta(days=MAX_DURATION_DAYS):
        errors["expires_on"] = [f"a date from today to {MAX_DURATION_DAYS} days ahead"]
    _check_budgets(scope, errors)
    if scope.disclosure_mode not in (None, *MODES):
        errors["disclosure_mode"] = [f"one of {', '.join(MODES)}, or none for each dataset's own"]
    for item in scope.datasets:
        if item.slug not in row.datasets:
            errors.setdefault("datasets", []).append(f"{item.slug!r} was not applied for")
            continue
        _check_dataset_scope(session, item, errors)
    if errors:
        raise Invalid("the approval's scope is not valid", errors=errors)


def _check_dataset_scope(session: Session, item: DatasetScope, errors: dict[str, list[str]]) -> None:
    dataset_id = session.scalar(select(Dataset.id).where(Dataset.slug == item.slug))
    query = select(Version).where(Version.dataset_id == dataset_id)
    if item.version is not None:
        query = query.where(Version.number == item.version)
    else:
        query = query.join(Dataset, Dataset.current_version_id == Version.id)
    version = session.scalar(query)
    if version is None:
        errors.setdefault(f"{item.slug}.version", []).append("no such version")
        return
    names = {c["name"] for c in version.columns}
    unknown = [c for c in (item.columns or ()) if c not in names]
    unknown += [f["column"] for f in item.row_filter if f.get("column") not in names]
    if unknown:
        errors.setdefault(f"{item.slug}.columns", []).append(f"unknown columns: {', '.join(map(str, unknown))}")
    if item.columns is not None and not item.columns:
        errors.setdefault(f"{item.slug}.columns", []).append("grant at least one column")
    if not unknown:
        _check_row_filter(item, version, errors)


def _check_row_filter(item: DatasetScope, version: Version, errors: dict[str, list[str]]) -> None:
    """Each condition compiles against the version's types now, not at every run later."""
    table = store.StoredTable(Path(version.storage_path), tuple(store.Column(c["name"], c["type"]) for c in version.columns))
    try:
        where_clause(table, [store.Filter(f["column"], f["op"], f.get("value")) for f in item.row_filter])
    except store.QueryError as exc:
        errors.setdefault(f"{item.slug}.row_filter", []).append(exc.message)
