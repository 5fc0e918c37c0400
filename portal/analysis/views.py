"""Steward pages: the audit of sandbox runs (who ran what, what came back, what looks like an
attack). Server-rendered and read-only; every analyst string (messages, rules, plans) reaches
the page through Jinja's autoescape, never `|safe`."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from portal.analysis import audit
from portal.auth import current_actor
from portal.db import get_session

bp = Blueprint("analysis", __name__)


@bp.get("/audit/runs")
def audit_runs():
    """Runs newest first, flagged ones marked; `?flagged=1` and `?user=EMAIL` narrow the list."""
    flagged_only = request.args.get("flagged") == "1"
    email = request.args.get("user") or None
    runs = audit.list_runs(get_session(), current_actor(), flagged_only=flagged_only, user_email=email)
    return render_template("analysis/runs.html", runs=runs, flagged_only=flagged_only, email=email or "")


@bp.get("/audit/runs/<run_id>")
def audit_run(run_id: str):
    """One run with every plan it sent."""
    run = audit.get_run(get_session(), current_actor(), run_id)
    return render_template("analysis/run.html", run=run)
