"""Analysis sessions: open, list, read, close; submit a cell; read or wait for a run.

The JSON API and the notebook's routes both call these, with the actor and the limits of the
configuration. A session belongs to one person: anyone else (whatever their role) is told it
does not exist (404), as for an unknown id. Submitting only records the run as `queued`; the
caller hands the session to the queue (`portal.sessions.queue`) and the cell runs in a queue
worker (`portal.sessions.worker`), never in the web request.

Sessions expire lazily: every read of a person's sessions first marks their idle ones expired,
so no timer is needed and an expired session is never used again.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Select, bindparam, func, select, update
from sqlalchemy.orm import Session

from portal.access.service import UsableDataset, usable_datasets, usable_each
from portal.analysis.budget import CELLS, Owner
from portal.analysis.epsilon import ledger_epsilon
from portal.analysis.notes import localise_result
from portal.analysis.service import MAX_DATASETS, grant_epsilon
from portal.auth import Actor
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.catalog.models import utcnow
from portal.catalog.schemas import as_utc, as_utc_or_none
from portal.db import (
    budget_day_start,
    held_across_processes,
    held_for_transaction,
    seconds_to_next_budget_day,
)
from portal.errors import (
    N_,
    Conflict,
    Invalid,
    NotFound,
    PortalError,
    TooLarge,
    Unauthorized,
)
from portal.sessions import permissions
from portal.sessions.models import AnalysisSession, SessionRun
from portal.sessions.schemas import Budget, CellBudget, RunView, SessionView

MAX_PENDING_RUNS = 20  # queued or running cells of one session: a notebook's "run all", not a flood
FINISHED = ("done", "error")


class TooManySessions(Conflict):
    code, title = "too-many-sessions", N_("Too many open sessions")


class SessionExpired(PortalError):
    status, code, title = 404, "session-expired", N_("Session expired")


class SessionClosed(Conflict):
    code, title = "session-closed", N_("Session closed")


class CodeTooLarge(TooLarge):
    code, title = "code-too-large", N_("Code too large")


class BudgetExhausted(PortalError):
    status, code, title = 429, "cpu-budget-exhausted", N_("Daily CPU budget used up")


class RunPending(Conflict):
    code, title = "run-pending", N_("Run not finished")


class TooManyPendingRuns(PortalError):
    status, code, title = 429, "too-many-pending-runs", N_("Too many runs waiting")


@dataclass(frozen=True)
class SessionLimits:
    idle_minutes: int = 30
    max_concurrent: int = 3
    cpu_seconds_daily: int = 600
    max_code_bytes: int = 64 * 1024
    epsilon: EpsilonDefaults = EpsilonDefaults()  # the portal's daily ε, for the budgets shown

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionLimits:
        return cls(int(config["SESSION_IDLE_MINUTES"]), int(config["SESSION_MAX_CONCURRENT"]),
                   int(config["SESSION_CPU_SECONDS_DAILY"]), int(config["SESSION_MAX_CODE_BYTES"]),
                   EpsilonDefaults.from_config(config))

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.idle_minutes)


def new_id() -> str:
    """A random URL-safe id (128 bits): ids are not guessable, though ownership is what protects."""
    return secrets.token_urlsafe(16)


def _person(actor: Actor) -> int:
    if not permissions.can_use_sessions(actor):
        raise Unauthorized("sign in, or use an API key with the sandbox:run scope", code="unauthorized")
    assert actor.user_id is not None
    return actor.user_id


@contextmanager
def _one_step(db: Session, name: str) -> Iterator[None]:
    """A check and the write it allows as one step across processes (`held_across_processes`).
    The transaction so far is committed first, so the wait holds no connection: thirty cells sent
    at once each held theirs while waiting, and the holder, needing one more from the bounded
    pool, waited for them (a 500 after 30 s)."""
    db.commit()
    with held_across_processes(db.get_bind(), name):
        yield


def open_session(db: Session, actor: Actor, datasets: list[str], limits: SessionLimits) -> SessionView:
    """Open a session on `datasets` (each must be analysable by the actor now).

    Raises:
        Unauthorized: anonymous. NotFound / Forbidden: a dataset (see `access.usable_datasets`).
        Invalid: too many datasets. TooManySessions: SESSION_MAX_CONCURRENT open already.
    """
    user_id = _person(actor)
    if len(datasets) > MAX_DATASETS:
        raise Invalid(f"at most {MAX_DATASETS} datasets per session", errors={"datasets": ["too many"]})
    usable = usable_datasets(db, actor, datasets)
    # Counted and opened as one step per person: with nothing between the count and the insert,
    # eight requests at once opened five sessions where three are allowed (seventeenth round).
    with _one_step(db, f"sessions-open:{user_id}"):
        expire_idle(db, user_id=user_id)  # commits: the count below reads the last insert
        open_now = _open_count(db, user_id)
        if open_now >= limits.max_concurrent:
            db.rollback()
            raise TooManySessions(f"you have {open_now} open sessions, the most allowed is {limits.max_concurrent}; "
                                  "close one (DELETE) or let it expire")
        now = utcnow()
        record = AnalysisSession(id=new_id(), user_id=user_id, datasets=[u.slug for u in usable], status="open",
                                 created_at=now, last_used_at=now, expires_at=now + limits.idle, next_index=0)
        db.add(record)
        db.commit()
    return replace(_view(db, record, [], limits), cells=cell_budgets(db, usable, limits.epsilon))


def list_sessions(db: Session, actor: Actor, limits: SessionLimits, *, limit: int = 50) -> list[SessionView]:
    """The actor's sessions, newest first (closed and expired ones too: their cells can be reopened)."""
    user_id = _person(actor)
    expire_idle(db, user_id=user_id)
    found = db.scalars(select(AnalysisSession).where(AnalysisSession.user_id == user_id)
                       .order_by(AnalysisSession.created_at.desc()).limit(limit)).all()
    runs = _runs_of(db, [s.id for s in found])
    budget = budget_of(db, user_id, limits)
    return [_view(db, s, runs.get(s.id, []), limits, budget) for s in found]


def get_session(db: Session, actor: Actor, session_id: str, limits: SessionLimits) -> SessionView:
    """The session with its cells, the person's budget and each grant's cells left today.

    Raises: NotFound (`session-not-found`): unknown, or another person's."""
    found = _own(db, actor, session_id)
    view = _view(db, found, _runs_of(db, [found.id]).get(found.id, []), limits)
    return replace(view, cells=cell_budgets(db, usable_each(db, actor, found.datasets).values(), limits.epsilon))


def cell_budgets(db: Session, usable: Iterable[UsableDataset],
                 defaults: EpsilonDefaults | None = None) -> tuple[CellBudget, ...]:
    """Each conditional dataset of `usable` (what the actor may analyse now: `usable_each`): its
    cells a day and over the grant's life, and in the ε-budget mode its ε a day and over its life,
    and what is left of each (the account's, under all its grants on the dataset; decisions
    0030u, 0030w). A grant revoked or expired meanwhile is simply not among them."""
    defaults = defaults or EpsilonDefaults()
    granted = [(u, u.privacy(defaults)) for u in usable if u.grant_id is not None]
    epsilon = ledger_epsilon(db, {u.grant_id: grant_epsilon(u, privacy)
                                  for u, privacy in granted if privacy.mode == "dp"})
    found = []
    for u, privacy in granted:
        daily, lifetime = u.daily_cell_budget or 0, u.cell_lifetime(defaults)
        spent, today, total = (int(n) for n in CELLS.spent_now(db, u.grant_id, Owner(u.user_id, u.dataset_id)))
        life_left = max(0, lifetime - max(0, total - u.cells_before))
        cells_left = min(daily - spent, daily - today, life_left)
        cells = {"cells_left": max(0, cells_left), "cells_lifetime": lifetime, "cells_lifetime_left": life_left}
        if privacy.mode == "dp":
            found.append(CellBudget(u.slug, daily, mode="dp", epsilon_daily=privacy.daily_epsilon,
                                    epsilon_left=epsilon.left(u.grant_id), epsilon_lifetime=privacy.lifetime_epsilon,
                                    epsilon_lifetime_left=epsilon.lifetime_left(u.grant_id), **cells))
        else:
            found.append(CellBudget(u.slug, daily, **cells))
    return tuple(found)


def close_session(db: Session, actor: Actor, session_id: str) -> None:
    """Close a session (its cells stay readable; closing twice is fine). Its state is dropped.

    Raises: NotFound.
    """
    found = _own(db, actor, session_id)
    if found.status == "open":
        found.status = "closed"
    found.state = None
    db.commit()


class Queued(NamedTuple):
    """A cell recorded as queued, and the person's budget as checked for it (for the answer)."""

    run: RunView
    budget: Budget


def submit_run(db: Session, actor: Actor, session_id: str, code: str, limits: SessionLimits) -> Queued:
    """Record a cell as queued in an open session; the caller enqueues the session.

    Raises:
        NotFound: no such session of the actor. SessionExpired (404), SessionClosed (409).
        Forbidden (403 `no-grant`, `closed-dataset`): a grant of the session was revoked or
            expired, or a dataset was closed, since the session opened — the very next cell is
            refused here, before it is queued (the worker checks again when it runs).
        CodeTooLarge (413). BudgetExhausted (429): no CPU seconds left today.
        TooManyPendingRuns (429): MAX_PENDING_RUNS cells of the session are waiting already.
    """
    _person(actor)
    # Read, checked, numbered and queued as one step per session, in one transaction that holds
    # the session's name from its first statement: cells sent at once read the same `next_index`
    # and all but one failed on the unique index (a 500), and the pending count let more than
    # MAX_PENDING_RUNS through (seventeenth round). The session is read under the hold, so no
    # second read is needed (decision 0030r).
    with held_for_transaction(db, f"session-runs:{session_id}"):
        found = _own(db, actor, session_id)
        _require_open(found)
        size = len(code.encode("utf-8", "surrogatepass"))
        if size > limits.max_code_bytes:
            raise CodeTooLarge(f"the code is {size} bytes, the most a run takes is {limits.max_code_bytes}")
        usable_datasets(db, actor, list(found.datasets))
        # The budget is also the answer's headers (queuing changes neither figure).
        used, open_now, pending = db.execute(_queue_read(), {"session_id": found.id,
                                                             **_budget_params(found.user_id)}).one()
        budget = _budget(used, open_now, limits)
        if budget.cpu_seconds_left <= 0:
            raise BudgetExhausted(f"today's {limits.cpu_seconds_daily} CPU seconds are used up; they renew at "
                                  "00:00 UTC", headers={"Retry-After": str(seconds_to_next_budget_day())})
        if (pending := pending or 0) >= MAX_PENDING_RUNS:
            raise TooManyPendingRuns(f"{pending} runs of this session are waiting; wait for them to finish",
                                     headers={"Retry-After": "5"})
        now = utcnow()
        run = SessionRun(id=new_id(), session_id=found.id, user_id=found.user_id, index=found.next_index, code=code,
                         status="queued", submitted_at=now, key_prefix=actor.key_prefix)
        found.next_index += 1
        found.last_used_at, found.expires_at = now, now + limits.idle
        db.add(run)
    return Queued(run_view(run), budget)


class RunRead(NamedTuple):
    """A run and its person's budget, read in one statement (the budget is the answer's headers)."""

    run: RunView
    budget: Budget


def read_run(db: Session, actor: Actor, run_id: str, limits: SessionLimits) -> RunRead:
    """One of the actor's runs and their budget, read fresh in one statement: what a `GET` of the
    run answers, and reads again each time its wait is woken.

    Fresh means seeing what another process committed since the session's last read. Under READ
    COMMITTED (PostgreSQL's default) every statement sees the commits made before it, so the row
    is read again in the same transaction; otherwise (SQLite keeps a snapshot per transaction)
    the transaction is ended first (decision 0030r).

    Raises: NotFound (`run-not-found`): unknown, or another person's."""
    user_id = _person(actor)
    if len(run_id) > 32:
        raise NotFound("run", run_id[:40])
    if db.get_bind().dialect.default_isolation_level != "READ COMMITTED":
        db.rollback()
    # The budget columns are the actor's own whoever's the run is: another person's run is a 404
    # before anything of the row is used.
    row = db.execute(_run_read(), {"run_id": run_id, **_budget_params(user_id)}).first()
    if row is None or row[0].user_id != user_id:
        raise NotFound("run", run_id[:40])
    return RunRead(run_view(row[0]), _budget(row[1], row[2], limits))


def delete_run(db: Session, actor: Actor, run_id: str) -> None:
    """Delete a finished cell from its session: it leaves the session's cells (the notebook in
    every browser, the API's session, the `.py` export). Its run stays readable by id, with
    `deleted_at`, and its audit record stays. Deleting twice is fine.

    Raises: NotFound (`run-not-found`). RunPending (409): still queued or running.
    """
    run = _own_run(db, actor, run_id)
    if run.status not in FINISHED:
        raise RunPending(f"run {run.id} is {run.status}; delete it once it has finished")
    if run.deleted_at is None:
        run.deleted_at = utcnow()
        db.commit()


def cpu_seconds_used_today(db: Session, user_id: int) -> float:
    """The CPU seconds of cells started today (UTC): a cell's seconds count on the day it
    started, like the cells and ε its queries spent (the budget's day is the run's)."""
    return round(float(db.scalar(_cpu_read(), _budget_params(user_id)) or 0.0), 3)


# The statements of every cell's POST, GET and worker are built once, with bound parameters:
# building one and its cache key cost about as much as executing it (~0.5 ms at load 4,
# decision 0030r). Their parameters are `_budget_params` (and the run's or session's id).
@functools.cache
def _cpu_read() -> Select:
    return select(func.coalesce(func.sum(SessionRun.cpu_seconds), 0.0)).where(
        SessionRun.user_id == bindparam("user_id"), SessionRun.started_at >= bindparam("day_start"))


@functools.cache
def _budget_columns() -> tuple:
    """The CPU seconds used today and the open sessions, as two scalar subqueries (one statement)."""
    return _cpu_read().scalar_subquery(), _open_sessions(bindparam("user_id")).scalar_subquery()


@functools.cache
def _budget_read() -> Select:
    return select(*_budget_columns())


@functools.cache
def _queue_read() -> Select:
    """The budget and the session's cells queued or running (`session_id`), for a POST."""
    pending = select(func.count()).select_from(SessionRun).where(
        SessionRun.session_id == bindparam("session_id"), SessionRun.status.in_(("queued", "running")))
    return select(*_budget_columns(), pending.scalar_subquery())


@functools.cache
def _run_read() -> Select:
    """A run (`run_id`) read afresh, and the budget, for a GET."""
    return (select(SessionRun, *_budget_columns()).where(SessionRun.id == bindparam("run_id"))
            .execution_options(populate_existing=True))


def _budget_params(user_id: int) -> dict[str, Any]:
    return {"user_id": user_id, "day_start": budget_day_start()}


def cpu_seconds_left(db: Session, user_id: int, limits: SessionLimits) -> float:
    """What the queue worker checks before a cell: the CPU seconds only (one statement)."""
    return round(max(0.0, limits.cpu_seconds_daily - cpu_seconds_used_today(db, user_id)), 3)


def budget_of(db: Session, user_id: int, limits: SessionLimits) -> Budget:
    """The person's budget, read in one statement (it goes in the headers of every session
    answer, the POST of a cell and the GET of its result among them: one round trip, not two)."""
    return _budget(*db.execute(_budget_read(), _budget_params(user_id)).one(), limits)


def _budget(used: float | None, open_now: int | None, limits: SessionLimits) -> Budget:
    used = round(float(used or 0.0), 3)
    return Budget(sessions_open=open_now or 0, sessions_max=limits.max_concurrent,
                  cpu_seconds_used_today=used, cpu_seconds_daily=limits.cpu_seconds_daily,
                  cpu_seconds_left=round(max(0.0, limits.cpu_seconds_daily - used), 3))


def actor_budget(db: Session, actor: Actor, limits: SessionLimits) -> Budget | None:
    return budget_of(db, actor.user_id, limits) if permissions.can_use_sessions(actor) and actor.user_id else None


def expire_idle(db: Session, *, user_id: int | None = None, now: datetime | None = None) -> int:
    """Mark open sessions idle past their expiry as expired (and drop their state); returns how many."""
    now = now or utcnow()
    stmt = (update(AnalysisSession).where(AnalysisSession.status == "open", AnalysisSession.expires_at < now)
            .values(status="expired", state=None))
    if user_id is not None:
        stmt = stmt.where(AnalysisSession.user_id == user_id)
    changed = db.execute(stmt).rowcount or 0
    db.commit()
    return changed


def localised(view: SessionView | RunView) -> SessionView | RunView:
    """For the views: each run's broker notes with `message` in the request's language added
    (stored results keep the coded English notes; portal/analysis/notes.py)."""
    if isinstance(view, RunView):
        return replace(view, result=localise_result(view.result))
    return replace(view, runs=tuple(replace(run, result=localise_result(run.result)) for run in view.runs))


def run_view(run: SessionRun) -> RunView:
    return RunView(id=run.id, session_id=run.session_id, index=run.index, status=run.status, code=run.code,
                   submitted_at=as_utc(run.submitted_at), started_at=as_utc_or_none(run.started_at),
                   finished_at=as_utc_or_none(run.finished_at), result=run.result, audit_run_id=run.audit_run_id,
                   deleted_at=as_utc_or_none(run.deleted_at))


def _own(db: Session, actor: Actor, session_id: str) -> AnalysisSession:
    user_id = _person(actor)
    found = db.get(AnalysisSession, session_id) if len(session_id) <= 32 else None
    if found is None or found.user_id != user_id:
        raise NotFound("session", session_id[:40])
    if found.status == "open" and found.expires_at < utcnow():
        expire_idle(db, user_id=user_id)
        db.refresh(found)
    return found


def _own_run(db: Session, actor: Actor, run_id: str) -> SessionRun:
    user_id = _person(actor)
    run = db.get(SessionRun, run_id) if len(run_id) <= 32 else None
    if run is None or run.user_id != user_id:
        raise NotFound("run", run_id[:40])
    return run


def _require_open(found: AnalysisSession) -> None:
    if found.status == "expired":
        raise SessionExpired(f"session {found.id} expired after being idle; open a new one")
    if found.status == "closed":
        raise SessionClosed(f"session {found.id} is closed; open a new one")


def _open_count(db: Session, user_id: int) -> int:
    return db.scalar(_open_sessions(user_id)) or 0


def _open_sessions(user_id: int | BindParameter) -> Select:
    return select(func.count()).select_from(AnalysisSession).where(
        AnalysisSession.user_id == user_id, AnalysisSession.status == "open")


def _runs_of(db: Session, session_ids: list[str]) -> dict[str, list[SessionRun]]:
    runs: dict[str, list[SessionRun]] = {}
    if not session_ids:
        return runs
    for run in db.scalars(select(SessionRun).where(SessionRun.session_id.in_(session_ids), SessionRun.deleted_at.is_(None))
                          .order_by(SessionRun.index)):
        runs.setdefault(run.session_id, []).append(run)
    return runs


def _view(db: Session, found: AnalysisSession, runs: list[SessionRun], limits: SessionLimits,
          budget: Budget | None = None) -> SessionView:
    return SessionView(id=found.id, datasets=tuple(found.datasets), status=found.status,
                       created_at=as_utc(found.created_at), last_used_at=as_utc(found.last_used_at),
                       expires_at=as_utc(found.expires_at),
                       runs=tuple(run_view(r) for r in runs), budget=budget or budget_of(db, found.user_id, limits))
