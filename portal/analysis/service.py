"""Running analyst code: the one entry point the web app and the CLI share.

`submit_run` resolves what the actor may analyse (open datasets, conditional ones under an
active grant, never closed ones), writes the audit record *before* the code runs, runs it in the
sandbox with a broker for exactly those datasets, then completes the record (with every query's
plan and outcome, and the run's flags), the daily ledger of charged cells and the shared memory
of released cells in one commit. A run that crashes its worker still completes its record; a
process that dies leaves it `running`, which is itself evidence.

The broker's DuckDB work happens on a confined connection (only these datasets' files, a memory
limit, a thread cap) that a timer interrupts at the run's wall-clock deadline: the supervisor
cannot stop a run while the broker is inside a query, so the query itself is stopped.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import sandbox
from portal import store
from portal.access.service import UsableDataset, usable_datasets
from portal.analysis import audit, memory, runtime
from portal.analysis.broker import Broker, GrantedSource
from portal.analysis.budget import LedgerBudget
from portal.analysis.disclosure import CellKeyNoise, Rules
from portal.analysis.epsilon import GrantEpsilon, Owner, ledger_epsilon
from portal.analysis.keys import DisclosureKey
from portal.analysis.models import AnalysisRun
from portal.analysis.policy import SourceInfo
from portal.analysis.private_queries import PrivateAnswers, PrivateSource, implied_levels
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.sources import AnalysisSource, analysis_source
from portal.auth import Actor
from portal.catalog.disclosure_settings import EpsilonDefaults, PrivacySettings, sum_bounds
from portal.catalog.models import utcnow
from portal.errors import Forbidden, Invalid

if TYPE_CHECKING:  # DuckDB is imported by the first run that reads a dataset, not by importing this
    from portal.store.connection import Lease

MAX_DATASETS = 10


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    result: dict[str, Any]


def submit_run(session: Session, actor: Actor, *, code: str, datasets: list[str], settings: AnalysisSettings,
               state: dict[str, Any] | None = None,
               finish: Callable[[RunOutcome], None] | None = None,
               cpu_seconds_left: float | None = None) -> RunOutcome:
    """Run one cell of analyst code against the named datasets.

    `cpu_seconds_left` (a session's daily CPU budget, what is left of it) lowers the run's CPU
    limit to it, rounded up to whole seconds (the kernel's limit is in seconds): a cell used to
    start with a tenth of a second left and run to the full per-run limit.

    Conditional datasets in the ε-budget mode (`settings.epsilon` holds the portal's defaults) are answered
    by `private_queries`; the result's `epsilon` lists what each of their grants spent today.

    `finish`, if given, is called with the outcome of a completed run inside the transaction that
    closes its audit record: whatever it adds to `session` (a notebook cell's stored result)
    becomes durable in the same commit as the audit record, never before it, and with one
    commit instead of two.

    Raises:
        Forbidden: anonymous actor; a closed dataset; a conditional one without a grant.
        NotFound: an unknown dataset.
        Invalid: too many datasets in one run.
    """
    if actor.is_anonymous:
        raise Forbidden("sign in to run analyses", code="sign-in-required")
    if len(datasets) > MAX_DATASETS:
        raise Invalid(f"at most {MAX_DATASETS} datasets per run", errors={"datasets": ["too many"]})
    usable = usable_datasets(session, actor, datasets)
    stored = {u.slug: analysis_source(session, u.slug, data_dir=settings.data_dir, loaded=u.dataset) for u in usable}
    sources = {u.slug: _granted(u, stored[u.slug], settings) for u in usable}
    versions = {slug: source.version for slug, source in sources.items()}
    broker = Broker(sources, noise=CellKeyNoise(settings.key.noise_key()), budget_left=_budget(session, usable, settings.epsilon),
                    registry=memory.registry(session, settings.key.fingerprint, settings.memory_cells,
                                             grid=settings.key.grid_key()),
                    quantum=settings.answer_quantum,
                    private=_private_answers(session, usable, stored, settings.epsilon))
    record = _open_record(session, actor, code, usable, versions, settings)
    limits = sandbox.Limits(queries=min(s.rules.queries_per_run for s in sources.values()) if sources else 200,
                            wall_seconds=settings.wall_seconds)
    if cpu_seconds_left is not None:
        limits = replace(limits, cpu_seconds=max(1, min(limits.cpu_seconds, math.ceil(cpu_seconds_left))))
    request = sandbox.RunRequest(code=code, state=state, limits=limits, run_id=record.run_id, grants=tuple(sources))
    try:
        result = _run(request, broker, settings).to_dict()
    except BaseException as exc:
        _close_record(session, record, broker, {"status": "error", "message": f"the sandbox failed: {type(exc).__name__}"},
                      settings)
        raise
    if broker.private is not None:
        result["epsilon"] = _epsilon_summary(broker.private, usable)
    outcome = RunOutcome(record.run_id, result)
    _close_record(session, record, broker, result, settings, finish=(lambda: finish(outcome)) if finish else None)
    return outcome


def _private_answers(session: Session, usable: list[UsableDataset], stored: dict[str, AnalysisSource],
                     defaults: EpsilonDefaults) -> PrivateAnswers | None:
    """The ε-budget path for the conditional datasets whose grant is in the "dp" mode, if any."""
    private, grants = {}, {}
    for u in usable:
        if u.grant_id is None:
            continue
        settings = u.privacy(defaults)
        if settings.mode != "dp":
            continue
        private[u.slug] = private_source(u.grant_id, stored[u.slug], settings)
        grants[u.grant_id] = grant_epsilon(u, settings)
    if not private:
        return None
    return PrivateAnswers(private, ledger_epsilon(session, grants))


def private_source(grant_id: int, source: AnalysisSource, settings: PrivacySettings) -> PrivateSource:
    """A dataset as the ε-budget mode answers it for one budget (a grant's, or the public's:
    `public.py`): one construction, so the public answer is calibrated as an analyst's is."""
    return PrivateSource(grant_id, settings.epsilon_per_query,
                         bounds=dict(source.bounds), sum_bounds=settings.effective_bounds(source.bounds),
                         levels=implied_levels(source.table.columns, source.bounds, source.levels),
                         max_groups=Rules.with_overrides(source.disclosure).max_groups,
                         person=settings.person, records_per_person=settings.records_per_person)


def grant_epsilon(u: UsableDataset, settings: PrivacySettings) -> GrantEpsilon:
    """A "dp" grant's ε bounds in force and whose ledgers it charges: one construction for the
    run that spends (`_private_answers`) and for the budgets the pages and the API report
    (`sessions.service.cell_budgets`), so what they say is left is what a run may spend."""
    return GrantEpsilon(settings.daily_epsilon, settings.lifetime_epsilon,
                        Owner(u.user_id, u.dataset_id, u.epsilon_before))


def _epsilon_summary(private: PrivateAnswers, usable: list[UsableDataset]) -> list[dict[str, Any]]:
    budget = private.budget
    return [{"dataset": u.slug, "grant_id": u.grant_id, "spent_in_run": budget.spent.get(u.grant_id, 0.0),
             "spent_today": budget.spent_today(u.grant_id), "daily": budget.daily[u.grant_id],
             "spent_lifetime": budget.spent_lifetime(u.grant_id), "lifetime": budget.lifetime[u.grant_id],
             "note": budget.summary(u.grant_id)}
            for u in usable if u.slug in private.private]


class _Deadline:
    """The broker as the sandbox sees it, plus `set_deadline`: a timer that interrupts the
    confined connection's queries at the run's wall-clock deadline (the supervisor's clock)."""

    def __init__(self, broker: Broker, connection: Lease):
        self._broker = broker
        self._connection = connection
        self._timer: threading.Timer | None = None

    def execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        return self._broker.execute(plan)

    def refused_before(self, plan: Any, rule: str, reason: str) -> None:
        self._broker.refused_before(plan, rule, reason)

    def set_deadline(self, at: float) -> None:
        self.cancel()
        self._timer = threading.Timer(max(0.0, at - time.monotonic()), self._connection.interrupt)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _run(request: sandbox.RunRequest, broker: Broker, settings: AnalysisSettings) -> sandbox.RunResult:
    """The run on the configured pool; the broker's queries on a confined DuckDB connection
    that is interrupted when the run's wall clock is up. A run granted no dataset has nothing
    for DuckDB to read (the broker refuses every plan by its unknown source), so it opens none."""
    paths = [path for s in broker.sources.values() for path in s.table.files()]
    if not paths:
        return runtime.pool(settings).run(request, broker)
    with store.confined(paths, memory_limit=settings.duckdb_memory, threads=settings.duckdb_threads) as connection:
        timed = _Deadline(broker, connection)
        try:
            return runtime.pool(settings).run(request, timed)
        finally:
            timed.cancel()


def _granted(usable: UsableDataset, source: AnalysisSource, settings: AnalysisSettings) -> GrantedSource:
    conditional = usable.open_class == "conditional"
    source = _scoped(usable, source)
    info = SourceInfo(slug=source.slug, conditional=conditional, columns=_visible(source.table),
                      identifiers=source.identifiers, sensitive=source.sensitive,
                      bounds=source.bounds, levels=source.levels,
                      sum_bounds=sum_bounds(source.disclosure, source.bounds), missing=source.missing,
                      zero=source.zero)
    rules = Rules.with_overrides(source.disclosure)
    if usable.daily_cell_budget is not None:
        rules = replace(rules, daily_cells=usable.daily_cell_budget)
    return GrantedSource(info=info, table=source.table, rules=rules, row_salt=_salt(settings.key, source),
                         grant_id=usable.grant_id, version=source.version)


def _scoped(usable: UsableDataset, source: AnalysisSource) -> AnalysisSource:
    """The source as the grant's scope leaves it: only the granted columns are visible to plans
    (the policy and the store's reads alike), and the grant's row filter is ANDed under every read."""
    if usable.columns is None and not usable.row_filter:
        return source
    filters = tuple(store.Filter(f["column"], f["op"], f.get("value")) for f in usable.row_filter)
    table = replace(source.table, visible=usable.columns, row_filter=filters)
    return replace(source, table=table)


def _visible(table: store.StoredTable) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns if table.visible is None or c.name in table.visible)


def _salt(key: DisclosureKey, source: AnalysisSource) -> int:
    return key.row_salt(source.slug)


def _budget(session: Session, usable: list[UsableDataset], defaults: EpsilonDefaults | None = None) -> LedgerBudget:
    """Each grant's daily and lifetime cells, spent into the ledgers at every charge of the broker
    (not when the run ends), so that runs at the same time — of one grant, or of the account's
    grants on the dataset — share them (decision 0030w)."""
    granted, defaults = [u for u in usable if u.grant_id is not None], defaults or EpsilonDefaults()
    return LedgerBudget(session.get_bind(), {u.grant_id: u.daily_cell_budget or 0 for u in granted},
                        lifetime={u.grant_id: u.cell_lifetime(defaults) for u in granted},
                        owners={u.grant_id: Owner(u.user_id, u.dataset_id, u.cells_before) for u in granted})


def _open_record(session: Session, actor: Actor, code: str, usable: list[UsableDataset],
                 versions: dict[str, int], settings: AnalysisSettings) -> AnalysisRun:
    record = AnalysisRun(
        code_encrypted=settings.code_vault.seal(code) if settings.code_vault else None,
        run_id=uuid.uuid4().hex, user_id=actor.user_id, user_email=actor.email or "",
        code_sha256=hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
        code_bytes=len(code.encode("utf-8", "surrogatepass")),
        grants=[{"dataset": u.slug, "version": versions[u.slug], "level": u.level, "grant_id": u.grant_id}
                for u in usable],
    )
    session.add(record)
    session.commit()
    return record


def _close_record(session: Session, record: AnalysisRun, broker: Broker, result: dict[str, Any],
                  settings: AnalysisSettings, *, finish: Callable[[], None] | None = None) -> None:
    tally = broker.tally
    usage = result.get("usage") or {}
    record.finished_at = utcnow()
    record.status = result.get("status", "error")
    record.message = str(result.get("message", ""))[:2000]
    audit.copy_tally(record, tally, broker.epsilon_spent)
    record.cpu_seconds = float(usage.get("cpu_seconds", 0.0))
    record.wall_seconds = float(usage.get("wall_seconds", 0.0))
    record.max_rss_bytes = int(usage.get("max_rss_bytes", 0))
    record.isolation_fallback = bool((result.get("isolation") or {}).get("fallback", False))
    audit.record_queries(session, record, tally.log)
    memory.store(session, broker.registry, fingerprint=settings.key.fingerprint, capacity=settings.memory_cells)
    if finish is not None:
        finish()
    session.commit()

