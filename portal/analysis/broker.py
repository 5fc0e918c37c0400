"""The trusted side of a sandbox run: answers each JSON plan, or refuses it with a rule.

One `Broker` serves one run. For every plan it: checks the plan against the granted datasets'
data dictionaries (`policy.check_plan`), runs it through `portal.store` with bound parameters
only, applies disclosure control to conditional data (`disclosure.release_rows`), charges the
grant's daily budget, and keeps the tallies the audit record needs. Nothing but plain JSON goes
back to the worker.

For conditional data the broker keeps to the principle of docs/disclosure.md: what the analyst
observes besides released values is a function of the plan and public metadata only. So
everything that can refuse is decided before the query runs (policy, declared group levels,
budget); the cells that can appear are the declared levels' combinations, in their declared
order, whatever the data holds; sort and limit after the aggregation apply to *released*
values; a query that still fails while running is answered as if every cell were suppressed;
and the answer leaves at a multiple of a fixed time quantum, after the same work for empty and
non-empty cells.
Plans on a dataset whose grant is in the ε-budget mode take a path of their own instead
(`private_queries.PrivateAnswers`: differential privacy, an ε budget), under the same time quantum.

What costs budget (docs/disclosure.md): every cell the plan could release, listed or not,
charged before it runs, and every refusal of a plan that names conditional data (a refusal is an
answer: a run of refusals must not be free). Once a grant's budget is spent, every plan naming its
dataset is refused with `budget` before it is looked at. Every query is logged for the audit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

from portal import store
from portal.analysis.budget import CellBudget
from portal.analysis.differencing import Listed, Registry, Remembered
from portal.analysis.disclosure import (
    COUNT_STREAM,
    Aggregation,
    CellInput,
    CellKeyNoise,
    Released,
    Rules,
    listed,
    release_rows,
)
from portal.analysis.notes import note
from portal.analysis.policy import Refusal, SourceInfo, Verdict, check_plan, join_lookups
from portal.analysis.private_queries import PrivateAnswers
from portal.analysis.shaping import candidate_cells, sort_and_limit, split_plan
from portal.analysis.sketches import BUCKETS, PARTS, Sketch
from portal.serialise import plain
from sandbox.plan import datasets_named

log = logging.getLogger(__name__)
OPEN_ROWS_CAP = 10_000
EMPTY_SKETCH = (0,) * (3 * PARTS * BUCKETS)
ANSWER_QUANTUM = 0.02  # seconds; ANALYSIS_ANSWER_QUANTUM_MS in portal/config.py
REFUSAL_COST = 1


@dataclass(frozen=True)
class GrantedSource:
    """A dataset this run may read, with everything the broker needs to answer for it."""

    info: SourceInfo
    table: store.StoredTable
    rules: Rules
    row_salt: int
    grant_id: int | None = None
    version: int = 0

    def bounded_table(self) -> store.StoredTable:
        """The table as plans read it: numeric fields of conditional data clamped to their bounds."""
        if not self.info.conditional:
            return self.table
        bounds = tuple((name, float(low), float(high)) for name, (low, high) in self.info.bounds.items())
        return replace(self.table, bounds=bounds)


@dataclass
class QueryLog:
    """One plan and what came of it, for the audit (`models.AnalysisQuery`)."""

    number: int
    plan: dict[str, Any]
    status: str = "ok"
    rule: str = ""
    reason: str = ""
    cells_released: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    cells_charged: int = 0


@dataclass
class Tally:
    """What the run released, suppressed, refused and was charged, for the audit record and the
    budget ledger; `log` holds every query (the audit stores them)."""

    queries: int = 0
    cells_released: int = 0
    cells_suppressed: int = 0
    cells_charged: int = 0
    datasets: list[str] = field(default_factory=list)
    refusals: list[dict[str, str]] = field(default_factory=list)
    cells_by_grant: dict[int, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    log: list[QueryLog] = field(default_factory=list)

    def begin(self, plan: dict[str, Any]) -> tuple[QueryLog, tuple[int, int, dict[str, int]]]:
        entry = QueryLog(self.queries, plan)
        self.log.append(entry)
        return entry, (self.cells_released, self.cells_charged, dict(self.suppressed))

    def finish(self, entry: QueryLog, before: tuple[int, int, dict[str, int]], answer: dict[str, Any]) -> None:
        released, charged, suppressed = before
        entry.status = str(answer.get("status", ""))
        entry.rule, entry.reason = str(answer.get("rule", "")), str(answer.get("reason", ""))
        entry.cells_released = self.cells_released - released
        entry.cells_charged = self.cells_charged - charged
        entry.suppressed = {k: v - suppressed.get(k, 0) for k, v in self.suppressed.items() if v > suppressed.get(k, 0)}


def _unchecked(plan: Any) -> dict[str, Any]:
    text = json.dumps(plan, ensure_ascii=False, sort_keys=True, default=repr).encode()
    return {"unchecked": True, "bytes": len(text), "sha256": hashlib.sha256(text).hexdigest()}


def _shifted(counts: tuple[int, ...], shift: int) -> tuple[int, ...]:
    return tuple(max(0, n + shift) for n in counts)


def pad(started: float, quantum: float) -> None:
    """Leave at the next multiple of the quantum after `started` (time.monotonic()), so the time
    an answer takes does not tell how many records it touched (as long as the work fits)."""
    if quantum <= 0:
        return
    elapsed = time.monotonic() - started
    time.sleep(quantum * max(1, math.ceil(elapsed / quantum)) - elapsed)


class Broker:
    def __init__(self, sources: dict[str, GrantedSource], *, noise: CellKeyNoise,
                 budget_left: dict[int, int] | CellBudget, registry: Registry | None = None,
                 quantum: float = ANSWER_QUANTUM, private: PrivateAnswers | None = None):
        self.sources = sources
        self.private = private
        self.noise = noise
        # Spent at each charge; a `LedgerBudget` spends straight from the ledger, so runs of one
        # grant going on at once share its budget (portal/analysis/budget.py).
        self.budget = budget_left if isinstance(budget_left, CellBudget) else CellBudget(budget_left)
        self.registry = registry or Registry()
        self.quantum = quantum
        self.tally = Tally()

    @property
    def epsilon_spent(self) -> float:
        """ε this broker's queries spent, over every grant it answers for (0 outside the ε-budget mode)."""
        return round(sum(self.private.budget.spent.values()), 9) if self.private is not None else 0.0

    def execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        self.tally.queries += 1
        entry, before = self.tally.begin(plan)
        try:
            slug = self.private.governs(plan) if self.private else None
            if slug is not None:  # the ε-budget mode has a path of its own: portal/analysis/private_queries.py
                answer = self._private(plan, slug)
            else:
                self._check_budget(plan)
                verdict = check_plan(plan, {slug: s.info for slug, s in self.sources.items()})
                self._touch(verdict.datasets)
                answer = self._answer(plan, verdict)
        except Refusal as refusal:
            answer = self._refuse(refusal.rule, refusal.reason, plan, refusal.detail)
        except store.QueryError as exc:
            answer = self._refuse(exc.code, exc.message, plan)
        except Exception:  # the supervisor answers `broker-error`; the audit says so too
            self.tally.finish(entry, before, {"status": "refused", "rule": "broker-error",
                                              "reason": "the data service could not answer"})
            raise
        finally:
            if self._reads_conditional(plan):
                self._pad(started)
        self.tally.finish(entry, before, answer)
        return answer

    def refused_before(self, plan: Any, rule: str, reason: str) -> None:
        """A query the supervisor refused without asking (`sandbox.contract.DataBroker`): logged
        for the audit like a refusal of the broker's own, but not charged (it read nothing). A
        plan that failed its shape check is kept as its size and hash only."""
        self.tally.queries += 1
        if len(self.tally.refusals) < 100:
            self.tally.refusals.append({"rule": rule, "reason": reason})
        entry, before = self.tally.begin(plan if rule == "grant" else _unchecked(plan))
        self.tally.finish(entry, before, {"status": "refused", "rule": rule, "reason": reason})

    def _reads_conditional(self, plan: dict[str, Any]) -> bool:
        sides = [plan] + [step["right"] for step in plan.get("steps", ()) if step.get("op") == "join"]
        return any(s.info.conditional for side in sides if (s := self.sources.get(side.get("source"))))

    def _pad(self, started: float) -> None:
        pad(started, self.quantum)

    def _private(self, plan: dict[str, Any], slug: str) -> dict[str, Any]:
        answer = self.private.answer(plan, slug, infos={s: g.info for s, g in self.sources.items()},
                                     tables={s: g.table for s, g in self.sources.items()},
                                     check_fan_out=self._check_fan_out, salt=self.sources[slug].row_salt)
        self._touch((slug,))
        self.tally.cells_released += 1 if "count" in answer else sum(len(row) for row in answer["rows"])
        return {**answer, "rows": plain(answer["rows"])} if "rows" in answer else answer

    def _answer(self, plan: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
        tables = {slug: self.sources[slug].bounded_table() for slug in verdict.datasets}
        if plan["action"] == "schema":
            columns = store.plan_schema(plan, tables)
            return {"status": "ok", "columns": [{"name": c.name, "type": c.type} for c in columns]}
        if plan["action"] == "count":
            return self._count(plan, verdict, tables)
        if verdict.conditional:
            return self._aggregate(plan, verdict, tables)
        result = store.run_plan(plan, tables, max_rows=OPEN_ROWS_CAP)
        notes = [note("rows-cap", rows=OPEN_ROWS_CAP)] if result.truncated else []
        return self._ok(result.columns, [list(r) for r in result.rows], notes)

    def _count(self, plan: dict[str, Any], verdict: Verdict, tables: dict) -> dict[str, Any]:
        """A count of conditional data is a one-cell aggregation: null when the cell is not
        listed, exactly as for no records at all (never a refusal that only small sets get)."""
        if not verdict.conditional:
            count, _ = store.count_plan(plan, tables)
            return {"status": "ok", "count": count}
        if verdict.aggregated:
            raise Refusal("after-aggregate", "count() of an aggregation of conditional data is not released")
        self._check_fan_out(plan, tables)
        rules = self._rules(verdict)
        self._charge(verdict, 1)
        try:
            count, stats = store.count_plan(plan, tables, row_keys=self._row_keys(verdict))
        except store.QueryError as exc:
            if not exc.while_running:
                raise
            log.warning("conditional count failed while running (%s); released as suppressed", exc.code)
            count, stats = 0, store.CellStats(0, 0, (0,))
        aggregation = Aggregation(0, "count", False, COUNT_STREAM)
        released = self._release(verdict, rules, [(count,)], [stats], [aggregation])
        value = released.rows[0][0] if released.rows else None
        self._tally_suppressed(verdict, released)
        return {"status": "ok", "count": value, "notes": list(released.notes)}

    def _check_fan_out(self, plan: dict[str, Any], tables: dict) -> None:
        """Each joined side must match a conditional record at most once (see policy._check_joins)."""
        for right, keys in join_lookups(plan):
            probe = {"version": 1, "action": "collect", "source": right["source"], "steps": [
                *right["steps"],
                {"op": "group_by", "keys": keys, "aggs": [{"op": "alias", "name": "rows_per_key", "expr": {"op": "count", "args": []}}]},
                {"op": "sort", "by": [{"column": "rows_per_key", "descending": True}]},
                {"op": "limit", "n": 1}]}
            found = store.run_plan(probe, tables, max_rows=1)
            if found.rows and found.rows[0][-1] > 1:
                raise Refusal("join-fan-out", f"the joined data has several rows per {', '.join(keys)}: "
                                              "join only lookup tables with one row per key")

    def _aggregate(self, plan: dict[str, Any], verdict: Verdict, tables: dict) -> dict[str, Any]:
        rules = self._rules(verdict)
        keys = [step for step in plan["steps"] if step["op"] == "group_by"][-1]["keys"]
        candidates = candidate_cells(keys, verdict.group_levels, rules.max_groups)
        self._check_fan_out(plan, tables)
        stored, shaping = split_plan(plan, verdict.aggregations)
        self._charge(verdict, len(candidates) * (len(keys) + len(verdict.aggregations)))
        try:
            result = store.run_plan(stored, tables, max_rows=OPEN_ROWS_CAP, row_keys=self._row_keys(verdict))
            columns, rows, stats = result.columns, result.rows, result.stats or []
        except store.QueryError as exc:
            if not exc.while_running:
                raise  # the plan itself is wrong: refused, whatever the data
            # A failure that depends on the data: answered exactly like all-suppressed cells.
            log.warning("conditional query failed while running (%s); released as suppressed", exc.code)
            columns, rows, stats = store.plan_schema(stored, tables), [], []
        rows, stats = candidates.fill(rows, stats, len(keys), verdict.aggregations)
        released = self._release(verdict, rules, rows, stats, list(verdict.aggregations))
        self._tally_suppressed(verdict, released)
        out = sort_and_limit(released.rows, [c.name for c in columns], shaping)
        return self._ok(columns, out, list(released.notes))

    def _release(self, verdict: Verdict, rules: Rules, rows: list[tuple], stats: list,
                 aggregations: list[Aggregation]) -> Released:
        """Disclosure control of aggregated rows, with differencing control: a cell whose records
        differ from an earlier released cell's by fewer than `min_cell` is answered like it."""
        # Not the versions: record keys are the same in every version (store/plans.py), so a cell
        # of version 2 that gained or lost a few records is snapped to the cell of version 1.
        # Not the open data joined on either: a cell is its conditional records, whatever lookup
        # rows they were joined with (decision 0024c), so it shares the memory of the plain cell.
        signature = "|".join(sorted(self._conditional(verdict)))
        # Checked and remembered as one step of the shared memory, its clock moved on by charged
        # cells only (the public's repeats are free): both a function of the plans.
        with self.registry.query(signature, charged=bool(self._grants(verdict.datasets))):
            return self._release_remembered(signature, rules, rows, stats, aggregations)

    def _release_remembered(self, signature: str, rules: Rules, rows: list[tuple], stats: list,
                            aggregations: list[Aggregation]) -> Released:
        cells, fresh, aliases = [], [], []
        for s in stats:
            sketch = Sketch.from_store(s.sketch or EMPTY_SKETCH)
            earlier, known = self.registry.answer(signature, s.records, s.key, sketch, rules.min_cell,
                                                  self._listed(rules))
            if earlier is not None and s.records > 0:
                # Answered as the remembered cell: its number of records, and as many records
                # without a value (or with a zero) as this set has. The set's own numbers gave
                # `sum(cost / 4 + 3)` = R(cost) / 4 + 3 * R(values present) a fresh draw of the
                # present count whenever the set was not the remembered one, i.e. whenever the
                # target was in it (sixth round, decision 0024c).
                shift = earlier.records - s.records
                cells.append(CellInput(earlier.records, earlier.key, _shifted(s.contributors, shift),
                                       _shifted(s.present, shift), earlier.values))
                fresh.append(earlier)
                if not known:  # remembered as answered, so the same set less a record meets it
                    aliases.append((Remembered(signature, s.records, s.key, sketch), earlier))
            else:
                cells.append(CellInput(s.records, s.key, s.contributors, s.present))
                fresh.append(Remembered(signature, s.records, s.key, sketch))
        released = release_rows(rows, cells, aggregations, rules, self.noise)
        self._remember(released, cells, fresh, rules)
        for alias, earlier in aliases:
            self.registry.alias(alias, earlier)
        return released

    def _listed(self, rules: Rules) -> Listed:
        """Whether a difference of two record sets (its size, and the key of the set's one draw,
        `differencing._snap`) would be listed as a cell: the threshold draw of a cell of that
        size (decisions 0030c, 0030k)."""
        return lambda records, key: listed(records, key, rules, self.noise)

    def _remember(self, released: Released, cells: list[CellInput], fresh: list[Remembered], rules: Rules) -> None:
        """Every cell with records is remembered, listed or not (with the base-level values
        released for it): a set a record away from an unlisted one must be unlisted too, or
        "pad of nine not listed, pad plus target listed" would prove the target is there."""
        memories = iter(released.memory)
        for cell, memory in zip(cells, fresh, strict=True):
            if listed(cell.records, cell.key, rules, self.noise):
                memory.values.update({k: v for k, v in next(memories).items() if k not in memory.values})
            if cell.records > 0 and not any(memory is known for known in self.registry.cells):
                self.registry.remember(memory)

    def _ok(self, columns, rows: list[list[Any]], notes: list[dict[str, Any]]) -> dict[str, Any]:
        self.tally.cells_released += sum(1 for row in rows for value in row if value is not None)
        body = {"status": "ok", "columns": [{"name": c.name, "type": c.type} for c in columns],
                "rows": plain(rows)}
        if notes:
            body["notes"] = notes
        return body

    def _rules(self, verdict: Verdict) -> Rules:
        """The strictest rules among the conditional datasets the plan reads."""
        rules = [self.sources[s].rules for s in verdict.datasets if self.sources[s].info.conditional]
        return max(rules, key=lambda r: (r.min_cell, r.rounding_base))

    def _conditional(self, verdict: Verdict) -> list[str]:
        return [slug for slug in verdict.datasets if self.sources[slug].info.conditional]

    def _row_keys(self, verdict: Verdict) -> dict[str, int | None]:
        """Record-key salts of the conditional datasets; open data joined on gets none, so a
        joined row keeps its conditional record's key. Hashing the pair made every choice of
        lookup row a fresh key for the same records, so a fresh draw of every figure: forty
        one-row lookups of an open table joined on a constant column averaged a count to the
        record (sixth round, decision 0024c). The broker checks that each record is joined at
        most once (`join-fan-out`), so the record's own key still names it."""
        return {slug: self.sources[slug].row_salt if self.sources[slug].info.conditional else None
                for slug in verdict.datasets}

    def _grants(self, datasets) -> list[int]:
        return [self.sources[s].grant_id for s in datasets if s in self.sources and self.sources[s].grant_id is not None]

    def _check_budget(self, plan: dict[str, Any]) -> None:
        """A spent budget refuses every plan naming the grant's dataset, before anything else (the
        refusal's `detail` says which: the account's day, `person`, or the grant's life, `lifetime`)."""
        if (refusal := self.budget.exhausted(self._grants(datasets_named(plan)))) is not None:
            raise refusal

    def _charge(self, verdict: Verdict, cells: int) -> None:
        """Spend cells from every conditional grant the plan used; refuse when one is out. Charged
        before the query runs, for every cell the plan could release (listed or not), so that
        the refusal depends on the plan alone."""
        grants = self._grants(verdict.datasets)
        if grants and not self.budget.take(grants, cells):
            raise self.budget.refusal(grants)
        self._spent(grants, cells)

    def _spent(self, grants: list[int], cells: int) -> None:
        for grant in grants:
            self.tally.cells_by_grant[grant] = self.tally.cells_by_grant.get(grant, 0) + cells
        if grants:
            self.tally.cells_charged += cells

    def _tally_suppressed(self, verdict: Verdict, released: Released) -> None:
        """Tally each suppression under its rule for the audit (a suppressed group hides one cell
        per statistic). The budget was charged before running, for every possible cell."""
        hidden = {"min-cell": released.suppressed_groups * len(verdict.aggregations),
                  "withheld": released.suppressed_cells}
        for rule, cells in hidden.items():
            if cells:
                self.tally.suppressed[rule] = self.tally.suppressed.get(rule, 0) + cells
                self.tally.cells_suppressed += cells

    def _touch(self, datasets: tuple[str, ...]) -> None:
        for slug in datasets:
            if slug not in self.tally.datasets:
                self.tally.datasets.append(slug)

    def _refuse(self, rule: str, reason: str, plan: dict[str, Any], detail: str | None = None) -> dict[str, Any]:
        """A refusal of a plan naming conditional data costs `REFUSAL_COST` cell (nothing, when
        the refusal is for the budget itself and none is left). A `detail` goes into the run's
        record and the result's, for the views' translated sentence; the code sees rule and reason."""
        if len(self.tally.refusals) < 100:
            self.tally.refusals.append({"rule": rule, "reason": reason, **({"detail": detail} if detail else {})})
        grants = self._grants(datasets_named(plan))
        try:
            if grants and self.budget.take(grants, REFUSAL_COST):
                self._spent(grants, REFUSAL_COST)
        except Refusal:  # the grant lapsed during the run: nothing to charge it to
            pass
        return {"status": "refused", "rule": rule, "reason": reason, **({"detail": detail} if detail else {})}
