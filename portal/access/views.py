"""Pages of conditional access: apply, my applications (withdraw, renew), and the stewards'
queue, decisions and grants. Each route parses, calls one service function, sends the notices
of a change after its commit, and renders; permission decisions are the service's. CSRFProtect
checks every POST's token before it reaches these routes; the services check the values, so a
form is read rather than validated here (a missing reason is the service's 422). Every page
(the stewards' too) sends an anonymous visitor to sign in and back; the stewards' pages answer
403 to a signed-in visitor without the role.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.access import applications as service
from portal.access import reviews
from portal.access.forms import ApplicationForm, ApproveForm, ReasonForm, WithdrawForm
from portal.access.history import dataset_titles
from portal.access.identity import identity_key
from portal.access.notices import send_notices
from portal.access.schemas import ApplicationSummary, Transition, format_row_filter
from portal.accounts.forms import ActionForm
from portal.accounts.views import login_required
from portal.auth import current_actor
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.db import get_session
from portal.errors import Invalid
from portal.filters import is_zh

bp = Blueprint("access", __name__)


def notify(transition: Transition | None) -> None:
    if transition is not None:
        link = url_for("access.application_page", application_id=transition.application_id, _external=True)
        send_notices(current_app.config, transition, link=link)


def _review_days() -> int:
    return current_app.config["ACCESS_REVIEW_WORKING_DAYS"]


@bp.route("/access/apply", methods=["GET", "POST"])
@login_required
def apply():
    """The application form; `?dataset=SLUG` (from a conditional dataset's page) ticks that dataset."""
    session, actor = get_session(), current_actor()
    form = ApplicationForm()
    choices = service.conditional_datasets(session, actor)
    form.datasets.choices = [(c.slug, f"{(c.title_zh if is_zh() else c.title_en) or c.title_zh} ({c.slug})")
                             for c in choices]
    if request.method == "GET" and request.args.get("dataset"):
        form.datasets.data = [request.args["dataset"]]
    if form.validate_on_submit():
        try:
            found = _apply(form)
        except Invalid as exc:  # the service's own checks: beside their fields, the values kept
            if not exc.errors:
                raise
            form.add_errors(exc.errors)
        else:
            return redirect(url_for("access.application_page", application_id=found.id))
    return render_template("access/apply.html", form=form), 200 if not form.errors else 400


def _apply(form: ApplicationForm) -> ApplicationSummary:
    session, actor, key = get_session(), current_actor(), identity_key(current_app.config)
    if request.form.get("save") == "draft":
        found = service.save_draft(session, actor, form.draft(), identity_key=key)
        flash(_("Your application is saved as a draft."), "info")
        return found
    changed = service.apply(session, actor, form.draft(), review_days=_review_days(), identity_key=key)
    notify(changed.transition)
    flash(_("Your application is submitted. A data steward decides within %(days)d working days.",
            days=_review_days()), "info")
    return changed.application


@bp.get("/access/applications")
@login_required
def my_applications():
    found = service.list_my_applications(get_session(), current_actor())
    return render_template("access/mine.html", applications=found, action=ActionForm(), withdraw=WithdrawForm(),
                           titles=dataset_titles(get_session(), _slugs(found)))


@bp.get("/access/applications/<int:application_id>")
@login_required
def application_page(application_id: int):
    """One application with its history: the applicant's view, and the steward's with the decision forms."""
    session, actor = get_session(), current_actor()
    found = service.get_application(session, actor, application_id, EpsilonDefaults.from_config(current_app.config))
    context = reviews.review_context(session, actor, found) if found.applicant != actor.email else None
    approve = ApproveForm()
    approve.fill_defaults(found.duration_days)
    return render_template("access/application.html", app=found, context=context, approve=approve,
                           refuse=ReasonForm(), action=ActionForm(), withdraw=WithdrawForm(),
                           format_row_filter=format_row_filter, titles=dataset_titles(session, _slugs([found])))


@bp.post("/access/applications/<int:application_id>/submit")
@login_required
def submit(application_id: int):
    changed = service.submit_application(get_session(), current_actor(), application_id, review_days=_review_days())
    notify(changed.transition)
    return redirect(url_for("access.application_page", application_id=application_id))


@bp.post("/access/applications/<int:application_id>/withdraw")
@login_required
def withdraw(application_id: int):
    changed = service.withdraw_application(get_session(), current_actor(), application_id,
                                           reason=WithdrawForm().reason.data or "")
    notify(changed.transition)
    flash(_("The application is withdrawn."), "info")
    return redirect(url_for("access.my_applications"))


@bp.post("/access/applications/<int:application_id>/renew")
@login_required
def renew(application_id: int):
    changed = service.renew_application(get_session(), current_actor(), application_id, review_days=_review_days())
    notify(changed.transition)
    flash(_("A renewal is submitted."), "info")
    return redirect(url_for("access.application_page", application_id=changed.application.id))


@bp.get("/steward/applications")
@login_required
def review_queue():
    """Submitted applications, due first on top, with the SLA clock."""
    queue = reviews.review_queue(get_session(), current_actor())
    return render_template("access/queue.html", queue=queue, coverage=reviews.calendar_gaps(queue),
                           days=_review_days(), titles=dataset_titles(get_session(), _slugs(queue)),
                           now=datetime.now(UTC))


@bp.post("/steward/applications/<int:application_id>/approve")
def approve(application_id: int):
    session, actor = get_session(), current_actor()
    found = service.get_application(session, actor, application_id)  # 404 to anyone else than applicant and stewards
    scope = ApproveForm().scope(request.form, found.datasets)
    changed = reviews.approve_application(session, actor, application_id, scope)
    notify(changed.transition)
    flash(_("Approved: the grants are in force."), "info")
    return redirect(url_for("access.review_queue"))


@bp.post("/steward/applications/<int:application_id>/refuse")
def refuse(application_id: int):
    changed = reviews.refuse_application(get_session(), current_actor(), application_id,
                                         reason=ReasonForm().reason.data or "")
    notify(changed.transition)
    flash(_("Refused; the applicant is told why."), "info")
    return redirect(url_for("access.review_queue"))


@bp.get("/steward/grants")
@login_required
def grants_page():
    """Grants in force (`?status=ended` or `all` for the others), each with a revoke button."""
    status = request.args.get("status", "active")
    found = reviews.list_grants(get_session(), current_actor(), status=status,
                                defaults=EpsilonDefaults.from_config(current_app.config))
    return render_template("access/grants.html", grants=found, status=status, revoke=ReasonForm(),
                           format_row_filter=format_row_filter,
                           titles=dataset_titles(get_session(), (g.dataset for g in found)))


def _slugs(applications) -> list[str]:
    """Every dataset the applications name or hold grants for."""
    return [slug for a in applications for slug in (*a.datasets, *(g.dataset for g in a.grants))]


@bp.post("/steward/grants/<int:grant_id>/revoke")
def revoke(grant_id: int):
    notify(reviews.revoke_grant(get_session(), current_actor(), grant_id, reason=ReasonForm().reason.data or ""))
    flash(_("The grant is revoked: the next run under it is refused."), "info")
    return redirect(url_for("access.grants_page"))

