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

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Update, bindparam, or_, select, update
from sqlalchemy.orm import Session

from portal.accounts.keys import key_still_usable
from portal.accounts.service import actor_for
from portal.analysis import service as analysis
from portal.analysis.runtime import app_settings
from portal.catalog.models import utcnow
from portal.db import session_scope
from portal.errors import PortalError
from portal.sessions.models import AnalysisSession, SessionRun
from portal.sessions.service import SessionLimits, cpu_seconds_left

if TYPE_CHECKING:
    from flask import Flask

    from portal.core import Core

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # several times a run's wall-clock limit; renewed before each cell


def process_session(app: Flask | Core, session_id: str, notify: Callable[[str], None]) -> int:
    """Run every queued cell of a session that no other worker holds; returns how many ran."""
    token = uuid.uuid4().hex
    ran = 0
    with app.app_context(), session_scope(app) as db:
        while (owner := _claim(db, session_id, token)) is not None:
            released = False
            try:
                run = _fail_abandoned(db, session_id, notify)
                while run is not None:
                    if ran and (owner := _renew(db, session_id, token)) is None:
                        return ran  # the lease lapsed and another worker holds the session now
                    execute_run(app, db, run, owner, notify)
                    ran += 1
                    released = _release_when_idle(db, session_id, token)
                    run = None if released else _next_queued(db, session_id)
            finally:
                if not released:
                    _release(db, session_id, token)
            if _next_queued(db, session_id) is None:  # queued while the lease was being let go
                break
    return ran


def execute_run(app: Flask | Core, db: Session, run: SessionRun, owner: AnalysisSession,
                notify: Callable[[str], None]) -> None:
    """Run one queued cell of `owner`, the session as read when its lease was taken or renewed
    (`_claim`, `_renew`: a session closed before that does not run the cell). Two commits, each
    also carrying the audit log's own write: the cell becomes `running` in the commit that opens
    its audit record (before the code runs), and its result is stored in the commit that closes
    the record, so the result is never readable before the audit record is durable
    (`submit_run`'s `finish`)."""
    started = utcnow()
    run.status, run.started_at = "running", started
    limits = SessionLimits.from_config(app.config)
    actor = actor_for(db, run.user_id)
    try:
        if actor is None:
            raise PortalError("the account is no longer active", code="account-inactive")
        if run.key_prefix is not None and not key_still_usable(db, run.key_prefix, "sandbox:run"):
            raise PortalError("the API key this cell was sent with was revoked or has expired since", code="key-revoked")
        if owner.status != "open":
            raise PortalError("the session was closed or expired before this run started", code="session-closed")
        left = cpu_seconds_left(db, run.user_id, limits)
        if left <= 0:
            raise PortalError("today's CPU budget is used up", code="cpu-budget-exhausted")
        analysis.submit_run(db, actor, code=run.code, datasets=list(owner.datasets), settings=app_settings(app),
                            state=owner.state, finish=lambda outcome: _store(db, run, owner, limits, outcome),
                            cpu_seconds_left=left)
    except PortalError as error:  # a grant revoked or expired, a dataset gone: the run is refused
        db.rollback()
        _fail(db, run.id, started, limits, {"status": "error", "code": error.code, "message": error.detail})
    except Exception as error:  # noqa: BLE001 - the sandbox failed; the audit record says so too
        log.exception("session run %s failed", run.id)
        db.rollback()
        _fail(db, run.id, started, limits, {"status": "error", "code": "sandbox-failed",
                                            "message": f"the sandbox failed: {type(error).__name__}"})
    notify(run.id)


def _store(db: Session, run: SessionRun, owner: AnalysisSession, limits: SessionLimits,
           outcome: analysis.RunOutcome) -> None:
    """The finished cell's result and the session's new variables (no commit: the audit
    record's closing commit carries them)."""
    result = dict(outcome.result)
    kept = result.pop("state", None)
    if type(kept) is dict:
        result["variables"] = sorted(kept)
        if owner.status == "open":
            owner.state = kept
    _finished(db, run, owner, limits, "done", result, outcome.run_id)


def _fail(db: Session, run_id: str, started, limits: SessionLimits, result: dict[str, Any]) -> None:
    run = db.get(SessionRun, run_id)
    run.started_at = run.started_at or started
    _finished(db, run, db.get(AnalysisSession, run.session_id), limits, "error", result, None)
    db.commit()


def _finished(db: Session, run: SessionRun, owner: AnalysisSession | None, limits: SessionLimits, status: str,
              result: dict[str, Any], audit_id: str | None) -> None:
    finished = utcnow()
    run.status, run.result, run.audit_run_id, run.finished_at = status, result, audit_id, finished
    run.cpu_seconds = float((result.get("usage") or {}).get("cpu_seconds", 0.0))
    if owner is not None and owner.status == "open":
        owner.last_used_at, owner.expires_at = finished, finished + limits.idle


# The statements of every cell are built once, with bound parameters (`session_id`, `token`,
# `now`, `until`): building one cost about as much as executing it (decision 0030r).
@functools.cache
def _claim_statement() -> Update:
    return (update(AnalysisSession).where(
        AnalysisSession.id == bindparam("session_id"),
        or_(AnalysisSession.claimed_by.is_(None), AnalysisSession.claimed_until < bindparam("now")),
    ).values(claimed_by=bindparam("token"), claimed_until=bindparam("until")).returning(AnalysisSession)
        .execution_options(populate_existing=True))


@functools.cache
def _release_when_idle_statement() -> Update:
    queued = select(SessionRun.id).where(SessionRun.session_id == bindparam("session_id"),
                                         SessionRun.status == "queued").exists()
    return update(AnalysisSession).where(
        AnalysisSession.id == bindparam("session_id"), AnalysisSession.claimed_by == bindparam("token"), ~queued,
    ).values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False)


@functools.cache
def _pending_statement() -> Select:
    """The session's cells still to run, in order (`statuses`: which)."""
    return (select(SessionRun).where(SessionRun.session_id == bindparam("session_id"),
                                     SessionRun.status.in_(bindparam("statuses", expanding=True)))
            .order_by(SessionRun.index))


def _claim(db: Session, session_id: str, token: str) -> AnalysisSession | None:
    """The session, read in the statement that leases it (RETURNING), or None when another
    worker holds it."""
    now = utcnow()
    owner = db.scalar(_claim_statement(), {"session_id": session_id, "now": now, "token": token, "until": now + LEASE})
    db.commit()
    return owner


def _renew(db: Session, session_id: str, token: str) -> AnalysisSession | None:
    """The session read again as the lease is renewed, or None when the lease is no longer ours
    (it lapsed during a long cell and another worker took it): going on would run the session's
    next cell in two workers at once."""
    owner = db.scalar(update(AnalysisSession).where(
        AnalysisSession.id == session_id, AnalysisSession.claimed_by == token,
    ).values(claimed_until=utcnow() + LEASE).returning(AnalysisSession).execution_options(populate_existing=True))
    db.commit()
    return owner


def _release(db: Session, session_id: str, token: str) -> None:
    db.rollback()
    db.execute(update(AnalysisSession).where(AnalysisSession.id == session_id, AnalysisSession.claimed_by == token)
               .values(claimed_by=None, claimed_until=None))
    db.commit()


def _release_when_idle(db: Session, session_id: str, token: str) -> bool:
    """Let the lease go unless a cell of the session is queued: the check and the release in one
    statement, after a cell (decision 0030r). False when a cell is queued (or the lease is no
    longer ours): the caller reads it and goes on, or stops at the renewal."""
    released = db.execute(_release_when_idle_statement(), {"session_id": session_id, "token": token}).rowcount
    db.commit()
    return released == 1


def _next_queued(db: Session, session_id: str) -> SessionRun | None:
    db.rollback()  # a fresh snapshot: cells queued by other processes meanwhile
    return db.scalars(_pending_statement(), {"session_id": session_id, "statuses": ["queued"]}).first()


def _fail_abandoned(db: Session, session_id: str, notify: Callable[[str], None]) -> SessionRun | None:
    """Fail the runs left `running` by a worker that died (we hold the lease now, so none is
    alive), and return the first queued run: one statement for both, read as the lease begins."""
    db.rollback()  # a fresh snapshot, as in `_next_queued`
    pending = db.scalars(_pending_statement(), {"session_id": session_id, "statuses": ["running", "queued"]}).all()
    stale = [run for run in pending if run.status == "running"]
    for run in stale:
        run.status, run.finished_at = "error", utcnow()
        run.result = {"status": "error", "code": "worker-lost", "message": "the worker running this cell stopped"}
    if stale:
        db.commit()
        for run in stale:
            notify(run.id)
    return next((run for run in pending if run.status == "queued"), None)


def pending_sessions(app: Flask | Core) -> list[str]:
    """Sessions with queued cells (re-queued when a worker starts, after a restart)."""
    with session_scope(app) as db:
        return list(db.scalars(select(SessionRun.session_id).where(SessionRun.status == "queued").distinct()))
