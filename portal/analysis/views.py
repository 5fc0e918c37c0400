"""Steward pages: the audit of sandbox runs (who ran what, what came back, what looks like an
attack), its CSV export and a run's code. Server-rendered and read-only; every analyst string
(messages, rules, plans, code) reaches the page through Jinja's autoescape, never `|safe`.
An anonymous visitor to a page is sent to sign in and back (`login_required`), as on every
sign-in-only page; a signed-in one without the role gets the service's 403. The CSV export is a
download, not a page: 403 to anyone else than stewards, signed in or not."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request

from portal.accounts.views import login_required
from portal.analysis import audit
from portal.analysis.codes import vault_from_config
from portal.auth import current_actor
from portal.catalog import chartlabels
from portal.db import get_session

bp = Blueprint("analysis", __name__)


@bp.get("/audit/runs")
@login_required
def audit_runs():
    """Runs newest first, flagged ones marked; the query string narrows them (`audit.parse_filter`)."""
    filters = audit.parse_filter(request.args)
    runs = audit.list_runs(get_session(), current_actor(), filters=filters)
    return render_template("analysis/runs.html", runs=runs, filters=filters, args=request.args,
                           statuses=audit.RUN_STATUSES)


@bp.get("/audit/runs.csv")
def audit_export():
    """The filtered runs as CSV (UTF-8 with a BOM, so spreadsheet programs read Chinese right)."""
    lines = audit.export_runs_csv(get_session(), current_actor(), filters=audit.parse_filter(request.args))
    return Response(("\ufeff", *lines), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="kaifang-audit.csv"'})


@bp.get("/audit/runs/<run_id>")
@login_required
def audit_run(run_id: str):
    """One run with every plan it sent."""
    run = audit.get_run(get_session(), current_actor(), run_id)
    return render_template("analysis/run.html", run=run)


@bp.get("/audit/runs/<run_id>/code")
@login_required
def audit_run_code(run_id: str):
    """A run's code, when it was kept encrypted; its hash either way."""
    code = audit.get_run_code(get_session(), current_actor(), run_id,
                              vault=vault_from_config(current_app.config))
    return render_template("analysis/code.html", code=code)


@bp.get("/datasets/<slug>/public-aggregate")
def public_aggregate(slug: str):
    """The public aggregate form of a conditional dataset and, once asked, its answer (a table,
    and a chart drawn by public-aggregate.js); a refused question is explained on the page."""
    from portal.analysis import public
    from portal.analysis.public import settings_and_budget
    from portal.catalog.service import get_dataset
    from portal.errors import PortalError

    session, actor = get_session(), current_actor()
    detail = get_dataset(session, actor, slug)
    settings, daily = settings_and_budget()
    offered = public.choices(session, actor, slug, settings, daily)
    by = [v for v in (request.args.get("by1", ""), request.args.get("by2", "")) if v] or \
        [v for v in request.args.get("by", "").split(",") if v]
    answer, headers, problem, status = None, [], None, 200
    if by or "stat" in request.args:
        try:
            question = public.Question.parse(by, request.args.get("stat", "count"), request.args.get("measure"))
            answer = public.ask(session, actor, slug, question, settings, daily)
            headers = chartlabels.aggregate_headers(detail.fields, answer.by, answer.stat, answer.measure,
                                                    interval=answer.mode == "dp")
            # the notes say the table's column titles, not the API's column names
            answer = answer.localised(headers)
        except PortalError as exc:
            if exc.status >= 500 or exc.code.endswith("not-found"):
                raise
            problem, status = exc, exc.status
        offered = public.choices(session, actor, slug, settings, daily)  # a refusal is charged too
    return render_template("analysis/public_aggregate.html", d=detail, offered=offered, answer=answer,
                           headers=headers, problem=problem, args=request.args), status


@bp.app_template_global("dictionary_labels")
def dictionary_labels(fields) -> dict[str, str]:
    """{field name: its data dictionary label in the page's language}, for the public form's menus."""
    return chartlabels.field_labels(tuple(fields))


@bp.app_template_global("public_aggregate_choices")
def public_aggregate_choices(detail):
    """The public aggregate form's fields for a dataset page (a conditional dataset with data),
    else None. A template global, so the catalog's page offers the form without importing analysis."""
    from portal.analysis import public
    from portal.errors import PortalError

    if detail.summary.open_class != "conditional" or not detail.current:
        return None
    try:
        settings, daily = public.settings_and_budget()
        return public.choices(get_session(), current_actor(), detail.summary.slug, settings, daily)
    except PortalError:  # the ε-budget mode, or no disclosure key yet: no public form
        return None
