"""JSON routes of applications on API v1, for the applicant's own key (`sandbox:run` scope).

Applying is the first step of analysing conditional data, which is what `sandbox:run` is for,
so that scope covers it (no scope of its own; docs/decisions/0019a). Every route needs a key
(401 without one): an application belongs to a person. Stewards decide on the pages only.
"""

from __future__ import annotations

from typing import Literal

from flask import current_app, url_for
from pydantic import BaseModel, Field

from portal.access import applications as service
from portal.access.identity import identity_key
from portal.access.notices import send_notices
from portal.access.schemas import (
    MAX_DURATION_DAYS,
    ApplicantIdentity,
    ApplicationDetail,
    ApplicationDraft,
    ApplicationSummary,
    Transition,
)
from portal.api.http import json_response
from portal.api.schemas import NoQuery
from portal.api.spec import endpoint
from portal.auth import current_actor
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.db import get_session

SCOPE = "sandbox:run"


class ApplicationBody(BaseModel):
    model_config = {"extra": "forbid"}

    datasets: list[str] = Field(min_length=1, max_length=10, description="Slugs of conditional datasets.")
    purpose: str = Field(min_length=1, max_length=4000, description="What the analysis is for.")
    organisation: str = Field(min_length=1, max_length=200)
    fields_wanted: str = Field("", max_length=2000, description="The columns needed, and why.")
    intended_outputs: str = Field("", max_length=2000, description="Tables, charts or figures to be published.")
    duration_days: int = Field(90, ge=1, le=MAX_DURATION_DAYS, description="How long access is asked for.")
    submit: bool = Field(True, description="Submit for review now (true) or keep as a draft (false).")
    applicant_name: str = Field(min_length=1, max_length=100, description="Your real name (real-name application).")
    document_type: Literal["resident", "passport", "other"] = Field(
        "resident", description="Your identity document: a mainland resident identity card, a passport or another.")
    id_number: str = Field(min_length=1, max_length=40, description=(
        "Its number (a resident ID is checked per GB 11643). Kept only as a keyed digest and its last four "
        "characters, never as it is."))
    credit_code: str = Field("", max_length=30, description="Your organisation's unified social credit code (optional).")


class WithdrawBody(BaseModel):
    model_config = {"extra": "forbid"}

    reason: str = Field("", max_length=2000)


def _notify(transition: Transition) -> None:
    link = url_for("access.application_page", application_id=transition.application_id, _external=True)
    send_notices(current_app.config, transition, link=link)


@endpoint("/applications", tag="applications", scope=SCOPE, auth="key", query=NoQuery,
          response=tuple[ApplicationSummary, ...])
def applications(params: NoQuery):
    """Your applications for conditional access, newest first, with their grants.

    Not their history: `events` is on one application (`GET /applications/{application_id}`).
    """
    return json_response(tuple(service.list_my_applications(get_session(), current_actor())),
                         tuple[ApplicationSummary, ...])


@endpoint("/applications", tag="applications", scope=SCOPE, auth="key", method="post", body=ApplicationBody,
          response=ApplicationSummary, status=201)
def create_application(body: ApplicationBody):
    """Apply for conditional datasets (submitted for review unless `submit` is false).

    A steward decides within ACCESS_REVIEW_WORKING_DAYS working days (`due_at`); you are mailed on each change.
    """
    session, actor = get_session(), current_actor()
    who = ApplicantIdentity(body.applicant_name, body.document_type, body.id_number, body.credit_code)
    draft = ApplicationDraft(tuple(body.datasets), body.purpose, body.organisation, body.duration_days,
                             body.fields_wanted, body.intended_outputs, who)
    key = identity_key(current_app.config)
    if body.submit:
        changed = service.apply(session, actor, draft, review_days=current_app.config["ACCESS_REVIEW_WORKING_DAYS"],
                                identity_key=key)
        _notify(changed.transition)
        found = changed.application
    else:
        found = service.save_draft(session, actor, draft, identity_key=key)
    response = json_response(found, ApplicationSummary)
    response.status_code = 201
    response.headers["Location"] = url_for("api.application", application_id=found.id)
    return response


@endpoint("/applications/<int:application_id>", tag="applications", scope=SCOPE, auth="key", query=NoQuery,
          response=ApplicationDetail)
def application(application_id: int, params: NoQuery):
    """One of your applications, with its history (who, when, from → to, why) and grants.

    The history is `events`, oldest first; the list of applications leaves it out.
    """
    found = service.get_application(get_session(), current_actor(), application_id,
                                    EpsilonDefaults.from_config(current_app.config))
    return json_response(found, ApplicationDetail)


@endpoint("/applications/<int:application_id>/withdraw", tag="applications", scope=SCOPE, auth="key", method="post",
          body=WithdrawBody, response=ApplicationSummary)
def withdraw_application(application_id: int, body: WithdrawBody):
    """Withdraw one of your applications (an approved one's grants end at once)."""
    changed = service.withdraw_application(get_session(), current_actor(), application_id, reason=body.reason)
    _notify(changed.transition)
    return json_response(changed.application, ApplicationSummary)
