"""The stewards' page of the run queue (`/audit/queue`, beside the audit of runs)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from portal.accounts.views import login_required
from portal.auth import current_actor
from portal.db import get_session
from portal.sessions.monitor import queue_figures
from portal.sessions.queue import queue_for

bp = Blueprint("sessions", __name__)


@bp.get("/audit/queue")
@login_required
def run_queue():
    """Depth of the run queue now and wait/run latency over the last hour (stewards)."""
    queue = queue_for(current_app._get_current_object())
    figures = queue_figures(get_session(), current_actor(), backend=queue.backend)
    return render_template("sessions/queue.html", figures=figures, pending=queue.depth())
