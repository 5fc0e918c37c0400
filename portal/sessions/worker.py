"""Running a session's queued cells, in a queue worker (a thread of the web process on embedded
defaults, or `kaifang run-worker` in production) — never in a web request.

A queue item names a session, not a run. The worker takes a lease on the session (one row
update: `claimed_by`, `claimed_until`), runs its queued cells in index order, each with the
variables the previous one left, and lets the lease go. A second worker given the same session
meanwhile finds it leased and drops the item: the holder looks again for queued cells after
releasing, so nothing is left behind. A worker that dies leaves its run `running` and its lease
to time out; the next worker to lease the session marks that run failed.

Each cell still goes through `portal.analysis.service.submit_run`, which checks the grants
again (a revoked grant stops the very next cell) and writes the steward's audit record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.accounts.service import actor_for
from portal.analysis import service as analysis
from portal.analysis.runtime import app_settings
from portal.catalog.models import utcnow
from portal.db import session_scope
from portal.errors import PortalError
from portal.sessions.models import AnalysisSession, SessionRun
from portal.sessions.service import SessionLimits, budget_of

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # several times a run's wall-clock limit; renewed before each cell


def process_session(app: Flask, session_id: str, notify: Callable[[str], None]) -> int:
    """Run every queued cell of a session that no other worker holds; returns how many ran."""
    token = uuid.uuid4().hex
    ran = 0
    with app.app_context(), session_scope(app) as db:
        while _claim(db, session_id, token):
            try:
                _fail_abandoned(db, session_id, notify)
                while (run := _next_queued(db, session_id)) is not None:
                    if ran:
                        _renew(db, session_id, token)
                    execute_run(app, db, run, notify)
                    ran += 1
            finally:
                _release(db, session_id, token)
            if _next_queued(db, session_id) is None:
                break
    return ran


def execute_run(app: Flask, db: Session, run: SessionRun, notify: Callable[[str], None]) -> None:
    owner = db.get(AnalysisSession, run.session_id)
    run.status, run.started_at = "running", utcnow()
    db.commit()
    limits = SessionLimits.from_config(app.config)
    result: dict[str, Any]
    status, audit_id = "done", None
    actor = actor_for(db, run.user_id)
    try:
        if actor is None:
            raise PortalError("the account is no longer active", code="account-inactive")
        if owner is None or owner.status != "open":
            raise PortalError("the session was closed or expired before this run started", code="session-closed")
        if budget_of(db, run.user_id, limits).cpu_seconds_left <= 0:
            raise PortalError("today's CPU budget is used up", code="cpu-budget-exhausted")
        outcome = analysis.submit_run(db, actor, code=run.code, datasets=list(owner.datasets),
                                      settings=app_settings(app), state=owner.state)
        result, audit_id = dict(outcome.result), outcome.run_id
    except PortalError as error:  # a grant revoked or expired, a dataset gone: the run is refused
        db.rollback()
        status, result = "error", {"status": "error", "code": error.code, "message": error.detail}
    except Exception as error:  # noqa: BLE001 - the sandbox failed; the audit record says so too
        log.exception("session run %s failed", run.id)
        db.rollback()
        status, result = "error", {"status": "error", "code": "sandbox-failed",
                                   "message": f"the sandbox failed: {type(error).__name__}"}
    kept = result.pop("state", None)
    if type(kept) is dict:
        result["variables"] = sorted(kept)
    finished = utcnow()
    run = db.get(SessionRun, run.id)
    run.status, run.result, run.audit_run_id, run.finished_at = status, result, audit_id, finished
    run.cpu_seconds = float((result.get("usage") or {}).get("cpu_seconds", 0.0))
    owner = db.get(AnalysisSession, run.session_id)
    if owner is not None and owner.status == "open":
        if type(kept) is dict:
            owner.state = kept
        owner.last_used_at, owner.expires_at = finished, finished + limits.idle
    db.commit()
    notify(run.id)


def _claim(db: Session, session_id: str, token: str) -> bool:
    now = utcnow()
    claimed = db.execute(update(AnalysisSession).where(
        AnalysisSession.id == session_id,
        or_(AnalysisSession.claimed_by.is_(None), AnalysisSession.claimed_until < now),
    ).values(claimed_by=token, claimed_until=now + LEASE)).rowcount
    db.commit()
    return claimed == 1


def _renew(db: Session, session_id: str, token: str) -> None:
    db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id, AnalysisSession.claimed_by == token)
               .values(claimed_until=utcnow() + LEASE))
    db.commit()


def _release(db: Session, session_id: str, token: str) -> None:
    db.rollback()
    db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id, AnalysisSession.claimed_by == token)
               .values(claimed_by=None, claimed_until=None))
    db.commit()


def _next_queued(db: Session, session_id: str) -> SessionRun | None:
    db.rollback()  # a fresh snapshot: cells queued by other processes meanwhile
    return db.scalar(select(SessionRun).where(SessionRun.session_id == session_id, SessionRun.status == "queued")
                     .order_by(SessionRun.index).limit(1))


def _fail_abandoned(db: Session, session_id: str, notify: Callable[[str], None]) -> None:
    """Runs left `running` by a worker that died (we hold the lease now, so none is alive)."""
    stale = db.scalars(select(SessionRun).where(SessionRun.session_id == session_id,
                                                SessionRun.status == "running")).all()
    for run in stale:
        run.status, run.finished_at = "error", utcnow()
        run.result = {"status": "error", "code": "worker-lost", "message": "the worker running this cell stopped"}
    if stale:
        db.commit()
        for run in stale:
            notify(run.id)


def pending_sessions(app: Flask) -> list[str]:
    """Sessions with queued cells (re-queued when a worker starts, after a restart)."""
    with session_scope(app) as db:
        return list(db.scalars(select(SessionRun.session_id).where(SessionRun.status == "queued").distinct()))
