"""Applications for conditional access: the lifecycle and the steward's decisions.

States: draft → submitted → approved | refused | withdrawn; approved → expired | revoked |
withdrawn. Every change appends an `ApplicationEvent` (who, when, from → to, why) in the same
unit of work. Approval writes one `Grant` per dataset with the steward's scope; the broker
reads grants on every run, so a revocation or an expiry stops the next run at once.

Functions return format-neutral summaries and, for changes, a `Transition` that the caller turns
into notices after the commit (`notices.py`): nothing here sends mail or reads the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.access.models import Application, ApplicationEvent, Grant
from portal.access.permissions import can_apply, can_review_applications, can_view_application
from portal.access.schemas import (
    MAX_DURATION_DAYS,
    ApplicationDraft,
    ApplicationSummary,
    ApprovalScope,
    EventSummary,
    GrantSummary,
    Transition,
)
from portal.access.workdays import add_working_days
from portal.accounts.models import User
from portal.auth import Actor
from portal.catalog.models import Dataset, Version, utcnow
from portal.catalog.permissions import require
from portal.catalog.queries import visible_datasets
from portal.errors import Conflict, Invalid, NotFound

WITHDRAWABLE = ("draft", "submitted", "approved")
RENEWABLE = ("approved", "expired")


@dataclass(frozen=True)
class Changed:
    """A write's result: the application as it now is, and what to notify."""

    application: ApplicationSummary
    transition: Transition


def apply(session: Session, actor: Actor, draft: ApplicationDraft, *, review_days: int) -> Changed:
    """Create an application and submit it for review; the review is due in `review_days` working days.

    Raises:
        Forbidden: anonymous actor, or a key without `sandbox:run`.
        Invalid: missing purpose or organisation, a duration out of range, a dataset that is not
            conditional or not visible.
    """
    require(can_apply(actor), "apply-for-access")
    row = _new(session, actor, draft)
    transition = _move(session, actor, row, "submitted", "", review_days=review_days)
    session.commit()
    return Changed(_summary(session, row), transition)


def save_draft(session: Session, actor: Actor, draft: ApplicationDraft) -> ApplicationSummary:
    """Keep an application as a draft, not yet sent to the stewards.

    Raises:
        Forbidden, Invalid: as `apply`.
    """
    require(can_apply(actor), "apply-for-access")
    row = _new(session, actor, draft)
    session.commit()
    return _summary(session, row)


def submit_application(session: Session, actor: Actor, application_id: int, *, review_days: int) -> Changed:
    """Send the applicant's draft to the stewards.

    Raises:
        NotFound: no such application of this actor. Conflict: it is not a draft.
    """
    row = _own(session, actor, application_id)
    _expect(row, ("draft",))
    transition = _move(session, actor, row, "submitted", "", review_days=review_days)
    session.commit()
    return Changed(_summary(session, row), transition)


def withdraw_application(session: Session, actor: Actor, application_id: int, *, reason: str = "") -> Changed:
    """The applicant withdraws; an approved application's grants end with it.

    Raises:
        NotFound: no such application of this actor. Conflict: already decided otherwise.
    """
    row = _own(session, actor, application_id)
    _expect(row, WITHDRAWABLE)
    _end_grants(session, row)
    transition = _move(session, actor, row, "withdrawn", reason)
    session.commit()
    return Changed(_summary(session, row), transition)


def renew_application(session: Session, actor: Actor, application_id: int, *, review_days: int) -> Changed:
    """Ask again for what an approved or expired application asked: a new submitted application
    that names the old one (the grants in force stay until the new decision).

    Raises:
        NotFound: no such application of this actor. Conflict: not approved or expired.
    """
    old = _own(session, actor, application_id)
    _expect(old, RENEWABLE)
    draft = ApplicationDraft(tuple(old.datasets), old.purpose, old.organisation, old.duration_days,
                             old.fields_wanted, old.intended_outputs)
    row = _new(session, actor, draft)
    row.renews_id = old.id
    transition = _move(session, actor, row, "submitted", f"renewal of application {old.id}", review_days=review_days)
    session.commit()
    return Changed(_summary(session, row), transition)


def approve_application(session: Session, actor: Actor, application_id: int, scope: ApprovalScope) -> Changed:
    """Approve with a scope: one grant per dataset (version, columns, rows, budget, expiry).

    Raises:
        Forbidden: not a steward. NotFound: no such application. Conflict: not submitted.
        Invalid: a dataset not in the application, an unknown version, column or operator, an
            expiry in the past or beyond the longest grant.
    """
    require(can_review_applications(actor), "decide-application")
    row = _get(session, application_id)
    _expect(row, ("submitted",))
    _check_scope(session, row, scope)
    expires = datetime.combine(scope.expires_on, time(23, 59, 59)) - timedelta(hours=8)  # end of day, China
    for item in scope.datasets:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.slug == item.slug))
        session.add(Grant(user_id=row.user_id, dataset_id=dataset_id, purpose=row.purpose,
                          granted_by=actor.email or "", daily_cell_budget=scope.daily_cell_budget,
                          expires_at=expires, version=item.version, application_id=row.id,
                          columns=list(item.columns) if item.columns is not None else None,
                          row_filter=[dict(f) for f in item.row_filter] or None))
    transition = _move(session, actor, row, "approved", scope.note)
    session.commit()
    return Changed(_summary(session, row), transition)


def refuse_application(session: Session, actor: Actor, application_id: int, *, reason: str) -> Changed:
    """Refuse, with the reason the applicant will read.

    Raises:
        Forbidden: not a steward. NotFound. Conflict: not submitted. Invalid: no reason.
    """
    require(can_review_applications(actor), "decide-application")
    if not reason.strip():
        raise Invalid("a refusal gives its reason", errors={"reason": ["required"]})
    row = _get(session, application_id)
    _expect(row, ("submitted",))
    transition = _move(session, actor, row, "refused", reason.strip())
    session.commit()
    return Changed(_summary(session, row), transition)


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
    if row is not None and row.state == "approved" and not _in_force(session, row, utcnow()):
        transition = _move(session, actor, row, "revoked", reason.strip())
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
        if not _in_force(session, row, now):
            moved.append(_move(session, actor, row, "expired", "every grant reached its expiry"))
    session.commit()
    return moved


def list_my_applications(session: Session, actor: Actor) -> list[ApplicationSummary]:
    """The actor's own applications, newest first, with their grants.

    Raises:
        Forbidden: anonymous actor, or a key without `sandbox:run`.
    """
    require(can_apply(actor), "list-own-applications")
    rows = session.scalars(select(Application).where(Application.user_id == actor.user_id)
                           .order_by(Application.created_at.desc(), Application.id.desc()))
    return [_summary(session, row) for row in rows]


def get_application(session: Session, actor: Actor, application_id: int) -> ApplicationSummary:
    """One application with its history and grants: for its applicant and the stewards.

    Raises:
        NotFound: no such application, or one of somebody else (its existence is not revealed).
    """
    row = session.get(Application, application_id)
    if row is None or not can_view_application(actor, row.user_id):
        raise NotFound("application", str(application_id))
    return _summary(session, row, with_events=True)


def review_queue(session: Session, actor: Actor, *, now: datetime | None = None) -> list[ApplicationSummary]:
    """Submitted applications, the one due first at the top, each flagged when overdue.

    Raises:
        Forbidden: not a steward.
    """
    require(can_review_applications(actor), "review-applications")
    now = now or utcnow()
    rows = session.scalars(select(Application).where(Application.state == "submitted")
                           .order_by(Application.due_at, Application.id))
    return [_summary(session, row, now=now) for row in rows]


def list_grants(session: Session, actor: Actor, *, status: str = "active", now: datetime | None = None) -> list[GrantSummary]:
    """Grants, newest first: `active`, `ended` (expired or revoked) or `all`.

    Raises:
        Forbidden: not a steward.
    """
    require(can_review_applications(actor), "list-grants")
    now = now or utcnow()
    query: Select = select(Grant, User.email, Dataset.slug).join(User, User.id == Grant.user_id) \
        .join(Dataset, Dataset.id == Grant.dataset_id).order_by(Grant.created_at.desc(), Grant.id.desc())
    if status == "active":
        query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    elif status == "ended":
        query = query.where((Grant.revoked_at.is_not(None)) | (Grant.expires_at <= now))
    return [_grant_summary(grant, email, slug, now) for grant, email, slug in session.execute(query.limit(500))]


# -- private steps ---------------------------------------------------------------------------

def _new(session: Session, actor: Actor, draft: ApplicationDraft) -> Application:
    _check_draft(session, actor, draft)
    row = Application(user_id=actor.user_id, datasets=list(dict.fromkeys(draft.datasets)), purpose=draft.purpose.strip(),
                      organisation=draft.organisation.strip(), fields_wanted=draft.fields_wanted.strip(),
                      intended_outputs=draft.intended_outputs.strip(), duration_days=draft.duration_days,
                      state="draft", created_at=utcnow())
    session.add(row)
    session.flush()
    session.add(ApplicationEvent(application_id=row.id, actor_email=actor.email or "", from_state="",
                                 to_state="draft", reason=""))
    return row


def _check_draft(session: Session, actor: Actor, draft: ApplicationDraft) -> None:
    errors: dict[str, list[str]] = {}
    if not draft.purpose.strip():
        errors["purpose"] = ["required"]
    if not draft.organisation.strip():
        errors["organisation"] = ["required"]
    if not 1 <= draft.duration_days <= MAX_DURATION_DAYS:
        errors["duration_days"] = [f"1 to {MAX_DURATION_DAYS} days"]
    if not draft.datasets or len(draft.datasets) > 10:
        errors["datasets"] = ["one to ten conditional datasets"]
    for slug in draft.datasets:
        found = session.scalar(visible_datasets(actor).where(Dataset.slug == slug))
        if found is None or found.open_class != "conditional":
            errors.setdefault("datasets", []).append(f"{slug!r} is not a conditional dataset")
    if errors:
        raise Invalid("the application is not complete", errors=errors)


def _check_scope(session: Session, row: Application, scope: ApprovalScope) -> None:
    errors: dict[str, list[str]] = {}
    if not scope.datasets:
        errors["datasets"] = ["approve at least one dataset"]
    if scope.expires_on < date.today() or scope.expires_on > date.today() + timedelta(days=MAX_DURATION_DAYS):
        errors["expires_on"] = [f"a date from today to {MAX_DURATION_DAYS} days ahead"]
    if scope.daily_cell_budget < 1:
        errors["daily_cell_budget"] = ["at least 1"]
    for item in scope.datasets:
        if item.slug not in row.datasets:
            errors.setdefault("datasets", []).append(f"{item.slug!r} was not applied for")
            continue
        _check_dataset_scope(session, item, errors)
    if errors:
        raise Invalid("the approval's scope is not valid", errors=errors)


def _check_dataset_scope(session: Session, item, errors: dict[str, list[str]]) -> None:
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


def _move(session: Session, actor: Actor, row: Application, to: str, reason: str, *,
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


def _expect(row: Application, states: tuple[str, ...]) -> None:
    if row.state not in states:
        raise Conflict(f"application {row.id} is {row.state}; this needs one that is {' or '.join(states)}",
                       code="application-state")


def _end_grants(session: Session, row: Application) -> None:
    now = utcnow()
    for grant in session.scalars(select(Grant).where(Grant.application_id == row.id, Grant.revoked_at.is_(None))):
        grant.revoked_at = now


def _in_force(session: Session, row: Application, now: datetime) -> bool:
    return session.scalar(select(Grant.id).where(Grant.application_id == row.id, Grant.revoked_at.is_(None),
                                                 Grant.expires_at > now).limit(1)) is not None


def _get(session: Session, application_id: int) -> Application:
    row = session.get(Application, application_id)
    if row is None:
        raise NotFound("application", str(application_id))
    return row


def _own(session: Session, actor: Actor, application_id: int) -> Application:
    """The actor's own application; somebody else's is NotFound, like one that does not exist."""
    require(can_apply(actor), "change-own-application")
    row = session.get(Application, application_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("application", str(application_id))
    return row


def _summary(session: Session, row: Application, *, now: datetime | None = None,
             with_events: bool = False) -> ApplicationSummary:
    now = now or utcnow()
    applicant = session.scalar(select(User.email).where(User.id == row.user_id)) or ""
    grants = [_grant_summary(grant, applicant, slug, now) for grant, slug in session.execute(
        select(Grant, Dataset.slug).join(Dataset, Dataset.id == Grant.dataset_id)
        .where(Grant.application_id == row.id).order_by(Grant.id))]
    events = [EventSummary(e.actor_email, e.at, e.from_state, e.to_state, e.reason) for e in session.scalars(
        select(ApplicationEvent).where(ApplicationEvent.application_id == row.id)
        .order_by(ApplicationEvent.at, ApplicationEvent.id))] if with_events else []
    overdue = row.state == "submitted" and row.due_at is not None and row.due_at < now
    return ApplicationSummary(row.id, applicant, list(row.datasets), row.purpose, row.organisation, row.fields_wanted,
                              row.intended_outputs, row.duration_days, row.state, row.created_at, row.submitted_at,
                              row.due_at, row.decided_at, row.renews_id, overdue, events, grants)


def _grant_summary(grant: Grant, email: str, slug: str, now: datetime) -> GrantSummary:
    status = "revoked" if grant.revoked_at is not None else "expired" if grant.expires_at <= now else "active"
    return GrantSummary(grant.id, email, slug, grant.version, list(grant.columns) if grant.columns is not None else None,
                        list(grant.row_filter or []), grant.daily_cell_budget, grant.created_at, grant.expires_at,
                        grant.revoked_at, grant.application_id, status)
