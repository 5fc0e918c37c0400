"""Applications for conditional access: the applicant's side of the lifecycle (the stewards'
decisions are in `reviews.py`).

States: draft → submitted → approved | refused | withdrawn; approved → expired | revoked |
withdrawn. Every change appends an `ApplicationEvent` (who, when, from → to, why) in the same
unit of work. Approval writes one `Grant` per dataset with the steward's scope; the broker
reads grants on every run, so a revocation or an expiry stops the next run at once.

Functions return format-neutral summaries and, for changes, a `Transition` that the caller turns
into notices after the commit (`notices.py`): nothing here sends mail or reads the request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.access import identity
from portal.access.history import describe, end_grants, expect_state, record_transition, summarise
from portal.access.models import Application, ApplicationEvent
from portal.access.permissions import can_apply, can_review_applications, can_view_application
from portal.access.schemas import (
    MAX_DURATION_DAYS,
    ApplicantIdentity,
    ApplicationDetail,
    ApplicationDraft,
    ApplicationSummary,
    Transition,
)
from portal.auth import Actor
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.catalog.models import Dataset, Version, utcnow
from portal.catalog.permissions import require
from portal.catalog.queries import visible_datasets
from portal.errors import Invalid, NotFound

WITHDRAWABLE = ("draft", "submitted", "approved")
RENEWABLE = ("approved", "expired")
IDENTITY_COLUMNS = ("applicant_name", "document_type", "id_digest", "id_last4", "credit_code")
Summary = TypeVar("Summary", bound=ApplicationSummary)


@dataclass(frozen=True)
class Changed:
    """A write's result: the application as it now is, and what to notify."""

    application: ApplicationSummary
    transition: Transition


def apply(session: Session, actor: Actor, draft: ApplicationDraft, *, review_days: int, identity_key: bytes) -> Changed:
    """Create an application and submit it for review; the review is due in `review_days` working days.
    `identity_key`: the key of the identity digests (`identity.identity_key(config)`).

    Raises:
        Forbidden: anonymous actor, or a key without `sandbox:run`.
        Invalid: missing purpose or organisation, a duration out of range, a dataset that is not
            conditional or not visible; a missing or malformed identity (name, document number,
            credit code: decision 0031e).
    """
    require(can_apply(actor), "apply-for-access")
    row = _new(session, actor, draft, identity_key)
    transition = record_transition(session, actor, row, "submitted", "", review_days=review_days)
    session.commit()
    return Changed(summarise(session, row), transition)


def save_draft(session: Session, actor: Actor, draft: ApplicationDraft, *, identity_key: bytes) -> ApplicationSummary:
    """Keep an application as a draft, not yet sent to the stewards (with its identity: a draft
    cannot be edited, so one without could never be submitted).

    Raises:
        Forbidden, Invalid: as `apply`.
    """
    require(can_apply(actor), "apply-for-access")
    row = _new(session, actor, draft, identity_key)
    session.commit()
    return summarise(session, row)


def submit_application(session: Session, actor: Actor, application_id: int, *, review_days: int) -> Changed:
    """Send the applicant's draft to the stewards.

    Raises:
        NotFound: no such application of this actor. Conflict: it is not a draft.
        Invalid: a draft from before identities were asked for (apply anew).
    """
    row = _own(session, actor, application_id)
    expect_state(row, ("draft",))
    _require_identity(row)
    transition = record_transition(session, actor, row, "submitted", "", review_days=review_days)
    session.commit()
    return Changed(summarise(session, row), transition)


def withdraw_application(session: Session, actor: Actor, application_id: int, *, reason: str = "") -> Changed:
    """The applicant withdraws; an approved application's grants end with it.

    Raises:
        NotFound: no such application of this actor. Conflict: already decided otherwise.
    """
    row = _own(session, actor, application_id)
    expect_state(row, WITHDRAWABLE)
    end_grants(session, row)
    transition = record_transition(session, actor, row, "withdrawn", reason)
    session.commit()
    return Changed(summarise(session, row), transition)


def renew_application(session: Session, actor: Actor, application_id: int, *, review_days: int) -> Changed:
    """Ask again for what an approved or expired application asked: a new submitted application
    that names the old one (the grants in force stay until the new decision).

    Raises:
        NotFound: no such application of this actor. Conflict: not approved or expired.
        Invalid: an application from before identities were asked for (apply anew, with one).
    """
    old = _own(session, actor, application_id)
    expect_state(old, RENEWABLE)
    _require_identity(old)
    draft = ApplicationDraft(tuple(old.datasets), old.purpose, old.organisation, old.duration_days,
                             old.fields_wanted, old.intended_outputs)
    row = _new(session, actor, draft, None)
    row.renews_id = old.id
    for name in IDENTITY_COLUMNS:  # the same applicant, as the steward checked them
        setattr(row, name, getattr(old, name))
    transition = record_transition(session, actor, row, "submitted", f"renewal of application {old.id}", review_days=review_days)
    session.commit()
    return Changed(summarise(session, row), transition)


def list_my_applications(session: Session, actor: Actor) -> list[ApplicationSummary]:
    """The actor's own applications, newest first, with their grants.

    Raises:
        Forbidden: anonymous actor, or a key without `sandbox:run`.
    """
    require(can_apply(actor), "list-own-applications")
    rows = session.scalars(select(Application).where(Application.user_id == actor.user_id)
                           .order_by(Application.created_at.desc(), Application.id.desc()))
    return [_for_applicant(summarise(session, row)) for row in rows]


def get_application(session: Session, actor: Actor, application_id: int,
                    defaults: EpsilonDefaults | None = None) -> ApplicationDetail:
    """One application with its history and grants: for its applicant and the stewards
    (`defaults`: the portal's ε settings, for the grants' lifetime ε).

    Raises:
        NotFound: no such application, or one of somebody else (its existence is not revealed).
    """
    row = session.get(Application, application_id)
    if row is None or not can_view_application(actor, row.user_id):
        raise NotFound("application", str(application_id))
    found = describe(session, row, defaults=defaults)
    return found if can_review_applications(actor) else _for_applicant(found)


def _for_applicant(found: Summary) -> Summary:
    """What the applicant sees: that a grant shares another account's budgets, not which account
    (an empty `budget_account`; the steward who bound them sees the e-mail address)."""
    grants = [replace(g, budget_account="") if g.budget_account else g for g in found.grants]
    return replace(found, grants=grants)


# -- private steps ---------------------------------------------------------------------------

def _new(session: Session, actor: Actor, draft: ApplicationDraft, identity_key: bytes | None) -> Application:
    """A draft row; with `identity_key` its identity is checked and kept as a digest (a renewal
    passes None and copies the old application's)."""
    _check_draft(session, actor, draft, identity_required=identity_key is not None)
    row = Application(user_id=actor.user_id, datasets=list(dict.fromkeys(draft.datasets)), purpose=draft.purpose.strip(),
                      organisation=draft.organisation.strip(), fields_wanted=draft.fields_wanted.strip(),
                      intended_outputs=draft.intended_outputs.strip(), duration_days=draft.duration_days,
                      state="draft", created_at=utcnow())
    if identity_key is not None and draft.identity is not None:
        who = draft.identity
        row.applicant_name, row.document_type = who.name.strip(), who.document_type
        row.id_digest, row.id_last4 = identity.digest(identity_key, who.number), identity.last4(who.number)
        row.credit_code = identity.normalise(who.credit_code) or None
    session.add(row)
    session.flush()
    session.add(ApplicationEvent(application_id=row.id, actor_email=actor.email or "", at=row.created_at,
                                 from_state="", to_state="draft", reason=""))
    return row


def _check_draft(session: Session, actor: Actor, draft: ApplicationDraft, *, identity_required: bool = True) -> None:
    errors: dict[str, list[str]] = {}
    if identity_required:
        _check_identity(draft.identity, errors)
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


def _check_identity(who: ApplicantIdentity | None, errors: dict[str, list[str]]) -> None:
    """The field errors of an applicant's identity (the field names of the form and the API)."""
    if who is None:
        errors["identity"] = ["the applicant's real name and identity document are required"]
        return
    if not who.name.strip():
        errors["applicant_name"] = ["required"]
    elif len(who.name.strip()) > 100:
        errors["applicant_name"] = ["at most 100 characters"]
    if problem := identity.number_error(who.document_type, who.number):
        field = "document_type" if problem == "document-type" else "id_number"
        errors[field] = [identity.MESSAGES[problem]]
    if problem := identity.credit_code_error(who.credit_code):
        errors["credit_code"] = [identity.CREDIT_MESSAGES[problem]]


def _require_identity(row: Application) -> None:
    if row.id_digest is None:
        raise Invalid("this application was made before applicants gave their identity: make a new application",
                      errors={"identity": ["required"]})


def _own(session: Session, actor: Actor, application_id: int) -> Application:
    """The actor's own application; somebody else's is NotFound, like one that does not exist."""
    require(can_apply(actor), "change-own-application")
    row = session.get(Application, application_id)
    if row is None or row.user_id != actor.user_id:
        raise NotFound("application", str(application_id))
    return row




@dataclass(frozen=True)
class DatasetChoice:
    """A conditional dataset as the forms offer it: its versions and the columns of each."""

    slug: str
    title_zh: str
    title_en: str
    current: int | None
    versions: dict[int, list[str]]


def conditional_datasets(session: Session, actor: Actor, slugs: list[str] | None = None) -> list[DatasetChoice]:
    """The conditional datasets the actor can see (all of them, or those in `slugs`), for the
    application form and the steward's scope form.

    Public: the catalog lists these datasets, their versions and columns to everyone.
    """
    query = visible_datasets(actor).where(Dataset.open_class == "conditional").order_by(Dataset.slug)
    if slugs is not None:
        query = query.where(Dataset.slug.in_(slugs))
    found = []
    for dataset in session.scalars(query):
        versions = {v.number: [c["name"] for c in v.columns] for v in session.scalars(
            select(Version).where(Version.dataset_id == dataset.id).order_by(Version.number.desc()))}
        current = session.scalar(select(Version.number).where(Version.id == dataset.current_version_id))
        found.append(DatasetChoice(dataset.slug, dataset.title_zh, dataset.title_en, current, versions))
    return found
