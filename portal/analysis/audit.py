"""The audit of sandbox runs: what each run asked (its plans), what came back, and flags.

`record_queries` stores a finished run's per-query log (`broker.QueryLog`) and the flags the
pattern finder (`patterns.py`) sees in it; the service calls it inside the run's closing unit of
work. `list_runs` is the one read path, shared by `kaifang audit` and the steward page, with
`export_runs_csv` (the same filters) and `get_run_code` (a run's code, when it was kept).

Plans are stored as the worker sent them (after the supervisor's structural check), capped at
`PLAN_CAP` bytes each; a larger plan is kept as its size and hash, so a flood of big plans
cannot bloat the database.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, or_, select
from sqlalchemy.orm import Session

from portal.analysis.broker import QueryLog, Tally
from portal.analysis.codes import CodeVault
from portal.analysis.models import AnalysisQuery, AnalysisRun
from portal.analysis.patterns import MAX_PLANS_COMPARED, Query, detect
from portal.analysis.permissions import can_read_audit
from portal.auth import Actor
from portal.catalog.models import Dataset, utcnow
from portal.catalog.permissions import require
from portal.errors import Invalid, NotFound

PLAN_CAP = 32 * 1024
DEFAULT_LIMIT = 100
EXPORT_LIMIT = 100_000
RUN_STATUSES = ("running", "ok", "error", "timeout", "killed", "refused")


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
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    max_rss_bytes: int = 0
    code_sha256: str = ""
    code_bytes: int = 0
    code_kept: bool = False
    epsilon_spent: float = 0.0


@dataclass(frozen=True)
class AuditFilter:
    """What a steward narrows the audit to; every field is optional and they are ANDed."""

    user_email: str | None = None
    dataset: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    status: str | None = None
    flagged_only: bool = False
    min_released: int | None = None
    with_refusals: bool = False
    min_cpu_seconds: float | None = None


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """The audit filter from a query string (`user`, `dataset`, `since`, `until`, `status`, `flagged`,
    `min_released`, `refused`, `min_cpu`); empty values are ignored.

    Raises:
        Invalid: a date, number or status that is not one.
    """
    errors: dict[str, list[str]] = {}

    def read(name: str, parse: Any) -> Any:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return parse(raw)
        except ValueError:
            errors[name] = ["not a valid value"]
            return None

    status = read("status", lambda v: v if v in RUN_STATUSES else _bad())
    found = AuditFilter(user_email=read("user", str), dataset=read("dataset", str), since=read("since", date.fromisoformat),
                        until=read("until", date.fromisoformat), status=status, flagged_only=args.get("flagged") == "1",
                        min_released=read("min_released", int), with_refusals=args.get("refused") == "1",
                        min_cpu_seconds=read("min_cpu", float))
    if errors:
        raise Invalid("the audit filter is not valid", errors=errors)
    return found


def _bad() -> Any:
    raise ValueError("unknown")


@dataclass(frozen=True)
class RunCode:
    run_id: str
    sha256: str
    bytes: int
    code: str | None  # None: only the hash was kept, or the key changed since


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
    current = [Query(e.plan, e.status, e.rule) for e in log]
    run.flags = detect(current) + _across_runs(session, run, current)
    run.flagged = bool(run.flags)


def _across_runs(session: Session, run: AnalysisRun, current: list[Query]) -> list[dict[str, Any]]:
    """Patterns that show only with the same person's earlier queries of the day: a notebook
    runs each cell as a run of its own, and an attack sent one query per cell used to stay under
    every pattern. Reported once, for the run whose queries complete it (numbers are this run's)."""
    room = MAX_PLANS_COMPARED - len(current)
    if room <= 0 or not current:
        return []
    earlier = _earlier_queries(session, run, room)
    if not earlier:
        return []
    seen = {flag["flag"] for flag in detect(earlier)} | {flag["flag"] for flag in detect(current)}
    found = []
    for flag in detect([*earlier, *current]):
        mine = [n - len(earlier) for n in flag["queries"] if n > len(earlier)]
        if flag["flag"] not in seen and mine:
            found.append({**flag, "queries": mine,
                          "detail": f"{flag['detail']}, across this person's runs today ({len(earlier)} earlier queries)"})
    return found


# Stored queries never change, so the ones compared after a run are kept for the next runs of
# this process, with what the pattern finders worked out of their plans (`patterns.Query`):
# after each run of a busy analyst up to MAX_PLANS_COMPARED earlier plans are compared, and
# reading and decoding them again each time cost more than the run (decision 0024a). Keyed by
# run id (random, never reused, whatever the database) and query number.
_KNOWN: OrderedDict[tuple[str, int], Query] = OrderedDict()
_KNOWN_CAP = 8 * MAX_PLANS_COMPARED
_known_lock = threading.Lock()


def _earlier_queries(session: Session, run: AnalysisRun, room: int) -> list[Query]:
    """The person's `room` latest queries of the day before this run, oldest first."""
    who = AnalysisRun.user_id == run.user_id if run.user_id is not None else AnalysisRun.user_email == run.user_email
    # Core rows, not the ORM's: 400 plain tuples through the ORM's loading cost more than the read
    connection = session.connection()
    rows = connection.execute(select(AnalysisQuery.id, AnalysisRun.run_id, AnalysisQuery.number).join(
        AnalysisRun, AnalysisQuery.run_id == AnalysisRun.id).where(
        who, AnalysisRun.id != run.id, AnalysisRun.started_at >= utcnow().replace(hour=0, minute=0, second=0, microsecond=0))
        .order_by(AnalysisRun.started_at.desc(), AnalysisQuery.number.desc()).limit(room)).all()
    with _known_lock:
        found = {(run_id, number): _KNOWN.get((run_id, number)) for _, run_id, number in rows}
    missing = {row_id: (run_id, number) for row_id, run_id, number in rows if found[(run_id, number)] is None}
    if missing:
        read = connection.execute(select(AnalysisQuery.id, AnalysisQuery.plan, AnalysisQuery.status, AnalysisQuery.rule)
                               .where(AnalysisQuery.id.in_(list(missing))))
        for row_id, plan, status, rule in read:
            found[missing[row_id]] = Query(plan, status, rule)
    with _known_lock:
        for key, query in found.items():
            _KNOWN[key] = query
            _KNOWN.move_to_end(key)
        while len(_KNOWN) > _KNOWN_CAP:
            _KNOWN.popitem(last=False)
    return [found[(run_id, number)] for _, run_id, number in reversed(rows)]


def list_runs(session: Session, actor: Actor, *, filters: AuditFilter = AuditFilter(),
              limit: int = DEFAULT_LIMIT) -> list[RunSummary]:
    """Runs, newest first, narrowed by `filters`.

    Raises:
        Forbidden: the actor is not a steward or admin.
    """
    require(can_read_audit(actor), "read-audit")
    return [_summary(run, []) for run in session.scalars(_filtered(session, filters).limit(limit))]


def export_runs_csv(session: Session, actor: Actor, *, filters: AuditFilter = AuditFilter(),
                    limit: int = EXPORT_LIMIT) -> Iterator[str]:
    """The filtered runs as CSV lines (a header first), for a steward's own records. Cells that
    start like a spreadsheet formula are prefixed with a quote, so opening the file runs nothing.

    Raises:
        Forbidden: the actor is not a steward or admin.
    """
    require(can_read_audit(actor), "export-audit")
    runs = list(session.scalars(_filtered(session, filters).limit(limit)))

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for run in runs:
            writer.writerow([_cell(v) for v in _csv_row(run)])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()
    return lines()


def _filtered(session: Session, filters: AuditFilter) -> Select:
    query = select(AnalysisRun).order_by(AnalysisRun.started_at.desc(), AnalysisRun.id.desc())
    conditions = [
        (filters.flagged_only, lambda: AnalysisRun.flagged.is_(True)),
        (filters.user_email, lambda: AnalysisRun.user_email == filters.user_email.strip().lower()),
        (filters.dataset, lambda: _on_datasets(_datasets_like(session, filters.dataset))),
        (filters.since, lambda: AnalysisRun.started_at >= datetime.combine(filters.since, time.min)),
        (filters.until, lambda: AnalysisRun.started_at < datetime.combine(filters.until + timedelta(days=1), time.min)),
        (filters.status, lambda: AnalysisRun.status == filters.status),
        (filters.min_released is not None, lambda: AnalysisRun.cells_released >= filters.min_released),
        (filters.with_refusals, lambda: cast(AnalysisRun.refusals, String) != "[]"),
        (filters.min_cpu_seconds is not None, lambda: AnalysisRun.cpu_seconds >= filters.min_cpu_seconds),
    ]
    for wanted, condition in conditions:
        if wanted:
            query = query.where(condition())
    return query


def _datasets_like(session: Session, text: str) -> list[str]:
    """The datasets a steward's dataset filter names: the text itself as a slug (a deleted
    dataset's runs stay findable), and every dataset whose slug or title, in either language,
    holds it: a steward types "clinic" or "门诊", not the whole slug."""
    text = text.strip()
    found = session.scalars(select(Dataset.slug).where(or_(
        Dataset.slug.icontains(text, autoescape=True), Dataset.title_en.icontains(text, autoescape=True),
        Dataset.title_zh.contains(text, autoescape=True))).order_by(Dataset.slug).limit(100))
    return list(dict.fromkeys([text.lower(), *found]))


def _on_datasets(slugs: list[str]) -> ColumnElement[bool]:
    """Runs given any of these datasets (`grants`: a run refused before its first answer touched
    none, and is the attempt a steward looks for) or answered on it (`datasets_touched`: a public
    aggregate's record has no grant)."""
    return or_(*(cast(AnalysisRun.grants, String).contains(f'"dataset": {json.dumps(slug)}', autoescape=True)
                 for slug in slugs),
               *(cast(AnalysisRun.datasets_touched, String).contains(json.dumps(slug), autoescape=True) for slug in slugs))


def _datasets_of(run: AnalysisRun) -> list[str]:
    """The datasets a run was given, then any it answered on beyond them (a public aggregate's)."""
    given = [g.get("dataset") for g in run.grants or [] if isinstance(g, dict) and g.get("dataset")]
    return list(dict.fromkeys([*given, *(run.datasets_touched or [])]))


CSV_COLUMNS = ("run_id", "started_at", "user", "status", "datasets", "queries", "cells_released",
               "cells_suppressed", "cells_charged", "refusals", "cpu_seconds", "wall_seconds", "max_rss_bytes",
               "code_sha256", "code_bytes", "flags", "epsilon_spent")


def _csv_row(run: AnalysisRun) -> list[Any]:
    return [run.run_id, run.started_at.isoformat(), run.user_email, run.status, " ".join(_datasets_of(run)),
            run.queries, run.cells_released, run.cells_suppressed, run.cells_charged, len(run.refusals or []),
            f"{run.cpu_seconds:.3f}", f"{run.wall_seconds:.3f}", run.max_rss_bytes, run.code_sha256, run.code_bytes,
            " ".join(f["flag"] for f in run.flags or []), f"{run.epsilon_spent or 0.0:g}"]


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def get_run_code(session: Session, actor: Actor, run_id: str, *, vault: CodeVault | None) -> RunCode:
    """A run's code for a steward: decrypted when it was kept encrypted, else only its hash.

    Raises:
        Forbidden: the actor is not a steward or admin.
        NotFound: no such run.
    """
    require(can_read_audit(actor), "read-run-code")
    run = _run_row(session, run_id)
    code = vault.open(run.code_encrypted) if vault is not None and run.code_encrypted else None
    return RunCode(run.run_id, run.code_sha256, run.code_bytes, code)


def get_run(session: Session, actor: Actor, run_id: str) -> RunSummary:
    """One run with every query it sent (plan, outcome, rules, charge).

    Raises:
        Forbidden: the actor is not a steward or admin.
        NotFound: no such run.
    """
    require(can_read_audit(actor), "read-audit")
    run = _run_row(session, run_id)
    return _summary(run, _queries(session, [run.id]).get(run.id, []))


def _run_row(session: Session, run_id: str) -> AnalysisRun:
    run = session.scalar(select(AnalysisRun).where(AnalysisRun.run_id == run_id))
    if run is None:
        raise NotFound("run", run_id)
    return run


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
                      datasets=_datasets_of(run), queries=run.queries,
                      cells_released=run.cells_released, cells_suppressed=run.cells_suppressed,
                      cells_charged=run.cells_charged, refusals=len(run.refusals or []),
                      isolation_fallback=run.isolation_fallback, flags=list(run.flags or []), details=details,
                      cpu_seconds=run.cpu_seconds, wall_seconds=run.wall_seconds, max_rss_bytes=run.max_rss_bytes,
                      code_sha256=run.code_sha256, code_bytes=run.code_bytes, code_kept=run.code_encrypted is not None,
                      epsilon_spent=run.epsilon_spent or 0.0)


def copy_tally(record: AnalysisRun, tally: Tally, epsilon_spent: float = 0.0) -> None:
    """A run's counts from its broker's tally (a sandbox run and a public aggregate alike), and
    the ε it spent (`Broker.epsilon_spent`): a steward reads a run in the ε-budget mode by its ε,
    as one in the statistical mode by its cells charged."""
    record.epsilon_spent = epsilon_spent
    record.queries = tally.queries
    record.datasets_touched = list(tally.datasets)
    record.cells_released = tally.cells_released
    record.cells_suppressed = tally.cells_suppressed
    record.cells_charged = tally.cells_charged
    record.refusals = tally.refusals
