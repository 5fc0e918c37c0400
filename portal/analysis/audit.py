"""The audit of sandbox runs: what each run asked (its plans), what came back, and flags.

`record_queries` stores a finished run's per-query log (`broker.QueryLog`) and the flags the
pattern finder (`patterns.py`) sees in it; the service calls it inside the run's closing unit of
work. `list_runs` is the one read path, shared by `kaifang audit` and the steward page.

Plans are stored as the worker sent them (after the supervisor's structural check), capped at
`PLAN_CAP` bytes each; a larger plan is kept as its size and hash, so a flood of big plans
cannot bloat the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.analysis.broker import QueryLog
from portal.analysis.models import AnalysisQuery, AnalysisRun
from portal.analysis.patterns import Query, detect
from portal.analysis.permissions import can_read_audit
from portal.auth import Actor
from portal.catalog.permissions import require
from portal.errors import NotFound

PLAN_CAP = 32 * 1024
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class QuerySummary:
    number: int
    status: str
    rule: str
    reason: str
    cells_released: int
    suppressed: dict[str, int]
    cells_charged: int
    plan: dict[str, Any]


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    user_email: str
    started_at: datetime
    status: str
    datasets: list[str]
    queries: int
    cells_released: int
    cells_suppressed: int
    cells_charged: int
    refusals: int
    isolation_fallback: bool
    flags: list[dict[str, Any]]
    details: list[QuerySummary] = field(default_factory=list)


def _stored_plan(plan: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(plan, ensure_ascii=False, sort_keys=True)
    if len(text.encode()) <= PLAN_CAP:
        return plan
    return {"truncated": True, "bytes": len(text.encode()), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def record_queries(session: Session, run: AnalysisRun, log: Sequence[QueryLog]) -> None:
    """Store a run's queries and its flags (no commit: part of the caller's unit of work)."""
    for entry in log:
        session.add(AnalysisQuery(run_id=run.id, number=entry.number, plan=_stored_plan(entry.plan),
                                  status=entry.status, rule=entry.rule, reason=entry.reason[:2000],
                                  cells_released=entry.cells_released, suppressed=dict(entry.suppressed),
                                  cells_charged=entry.cells_charged))
    run.flags = detect([Query(e.plan, e.status, e.rule) for e in log])
    run.flagged = bool(run.flags)


def list_runs(session: Session, actor: Actor, *, flagged_only: bool = False, user_email: str | None = None,
              limit: int = DEFAULT_LIMIT) -> list[RunSummary]:
    """Runs, newest first; optionally only flagged ones, or one user's.

    Raises:
        Forbidden: the actor is not a steward or admin.
    """
    require(can_read_audit(actor), "read-audit")
    query = select(AnalysisRun).order_by(AnalysisRun.started_at.desc(), AnalysisRun.id.desc()).limit(limit)
    if flagged_only:
        query = query.where(AnalysisRun.flagged.is_(True))
    if user_email:
        query = query.where(AnalysisRun.user_email == user_email.strip().lower())
    return [_summary(run, []) for run in session.scalars(query)]


def get_run(session: Session, actor: Actor, run_id: str) -> RunSummary:
    """One run with every query it sent (plan, outcome, rules, charge).

    Raises:
        Forbidden: the actor is not a steward or admin.
        NotFound: no such run.
    """
    require(can_read_audit(actor), "read-audit")
    run = session.scalar(select(AnalysisRun).where(AnalysisRun.run_id == run_id))
    if run is None:
        raise NotFound("run", run_id)
    return _summary(run, _queries(session, [run.id]).get(run.id, []))


def _queries(session: Session, run_ids: list[int]) -> dict[int, list[QuerySummary]]:
    found: dict[int, list[QuerySummary]] = {}
    rows = session.scalars(select(AnalysisQuery).where(AnalysisQuery.run_id.in_(run_ids))
                           .order_by(AnalysisQuery.run_id, AnalysisQuery.number))
    for q in rows:
        found.setdefault(q.run_id, []).append(QuerySummary(q.number, q.status, q.rule, q.reason, q.cells_released,
                                                           dict(q.suppressed), q.cells_charged, dict(q.plan)))
    return found


def _summary(run: AnalysisRun, details: list[QuerySummary]) -> RunSummary:
    return RunSummary(run_id=run.run_id, user_email=run.user_email, started_at=run.started_at, status=run.status,
                      datasets=list(run.datasets_touched or []), queries=run.queries,
                      cells_released=run.cells_released, cells_suppressed=run.cells_suppressed,
                      cells_charged=run.cells_charged, refusals=len(run.refusals or []),
                      isolation_fallback=run.isolation_fallback, flags=list(run.flags or []), details=details)
