"""The trusted side of a sandbox run: answers each JSON plan, or refuses it with a rule.

One `Broker` serves one run. For every plan it: checks the plan against the granted datasets'
data dictionaries (`policy.check_plan`), runs it through `portal.store` with bound parameters
only, applies disclosure control to conditional data (`disclosure.release_rows`), charges the
grant's daily budget, and keeps the tallies and the per-query log the audit record needs.
Nothing but plain JSON goes back to the worker.

What costs budget (docs/disclosure.md): every released cell, every suppressed or withheld cell
(a suppressed cell answers a question about the records too), and every refusal of a plan
that names conditional data (a refusal is an answer: a run of refusals must not be free). Once
a grant's budget is spent, every plan naming its dataset is refused with `budget` before it is
looked at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from portal import store
from portal.analysis.differencing import Registry, Remembered, Sketch
from portal.analysis.disclosure import (
    COUNT_STREAM,
    Aggregation,
    CellInput,
    CellKeyNoise,
    Rules,
    release_rows,
)
from portal.analysis.policy import Refusal, SourceInfo, Verdict, check_plan, join_lookups
from portal.serialise import plain
from sandbox.plan import datasets_named

log = logging.getLogger(__name__)
OPEN_ROWS_CAP = 10_000
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


class Broker:
    def __init__(self, sources: dict[str, GrantedSource], *, noise: CellKeyNoise,
                 budget_left: dict[int, int], registry: Registry | None = None):
        self.sources = sources
        self.noise = noise
        self.budget_left = dict(budget_left)
        self.registry = registry or Registry()
        self.tally = Tally()

    def execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        self.tally.queries += 1
        entry, before = self.tally.begin(plan)
        try:
            self._check_budget(plan)
            verdict = check_plan(plan, {slug: s.info for slug, s in self.sources.items()})
            self._touch(verdict.datasets)
            answer = self._answer(plan, verdict)
        except Refusal as refusal:
            answer = self._refuse(refusal.rule, refusal.reason, plan)
        except store.QueryError as exc:
            answer = self._refuse(exc.code, exc.message, plan)
        self.tally.finish(entry, before, answer)
        return answer

    def _answer(self, plan: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
        tables = {slug: self.sources[slug].table for slug in verdict.datasets}
        if plan["action"] == "schema":
            columns = store.plan_schema(plan, tables)
            return {"status": "ok", "columns": [{"name": c.name, "type": c.type} for c in columns]}
        if plan["action"] == "count":
            return self._count(plan, verdict, tables)
        if verdict.conditional:
            return self._aggregate(plan, verdict, tables)
        result = store.run_plan(plan, tables, max_rows=OPEN_ROWS_CAP)
        notes = [f"first {OPEN_ROWS_CAP:,} rows only"] if result.truncated else []
        return self._ok(result.columns, [list(r) for r in result.rows], notes)

    def _count(self, plan: dict[str, Any], verdict: Verdict, tables: dict) -> dict[str, Any]:
        if not verdict.conditional:
            count, _ = store.count_plan(plan, tables)
            return {"status": "ok", "count": count}
        if verdict.aggregated:
            raise Refusal("after-aggregate", "count() of an aggregation of conditional data is not released")
        self._check_fan_out(plan, tables)
        rules = self._rules(verdict)
        count, stats = store.count_plan(plan, tables, row_keys=self._row_keys(verdict))
        if count < rules.min_cell:
            raise Refusal("min-cell", f"fewer than {rules.min_cell} records match: the count is not released")
        self._charge(verdict, 1)
        aggregation = Aggregation(0, "count", False, COUNT_STREAM)
        released = self._release(verdict, rules, [(count,)], [stats], [aggregation])
        return {"status": "ok", "count": released.rows[0][0], "notes": list(released.notes)}

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
        self._check_fan_out(plan, tables)
        rules = self._rules(verdict)
        result = store.run_plan(plan, tables, max_rows=rules.max_groups, row_keys=self._row_keys(verdict))
        if result.truncated:
            raise Refusal("too-many-groups", f"more than {rules.max_groups} groups: use coarser group keys")
        released = self._release(verdict, rules, result.rows, result.stats, list(verdict.aggregations))
        self._charge_release(verdict, released)
        return self._ok(result.columns, released.rows, list(released.notes))

    def _release(self, verdict: Verdict, rules: Rules, rows: list[tuple], stats: list, aggregations: list[Aggregation]):
        """Disclosure control of aggregated rows, with differencing control: a cell whose records
        differ from an earlier released cell's by fewer than `min_cell` is answered like it."""
        signature = "|".join(sorted(f"{slug}@{self.sources[slug].version}" for slug in verdict.datasets))
        cells, fresh = [], []
        for s in stats:
            sketch = Sketch.from_store(s.sketch)
            earlier = self.registry.same(signature, s.key, s.records) or self.registry.near(
                signature, s.records, s.key, sketch, rules.min_cell)
            if earlier is not None and s.records >= rules.min_cell:
                cells.append(CellInput(earlier.records, earlier.key, s.contributors, s.top, earlier.values))
                fresh.append(earlier)
            else:
                cells.append(CellInput(s.records, s.key, s.contributors, s.top))
                fresh.append(Remembered(signature, s.records, s.key, sketch))
        released = release_rows(rows, cells, aggregations, rules, self.noise)
        self._remember(released, cells, fresh, aggregations, rules)
        return released

    def _remember(self, released, cells: list[CellInput], fresh: list[Remembered], aggregations, rules: Rules) -> None:
        kept = iter(released.rows)
        for cell, memory in zip(cells, fresh, strict=True):
            if cell.records < rules.min_cell:
                continue  # suppressed: nothing was released, nothing to remember
            row = next(kept)
            for agg in aggregations:
                memory.values.setdefault(agg.stream, row[agg.index])
            if not any(memory is known for known in self.registry.cells):
                self.registry.remember(memory)

    def _ok(self, columns, rows: list[list[Any]], notes: list[str]) -> dict[str, Any]:
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

    def _row_keys(self, verdict: Verdict) -> dict[str, int]:
        return {slug: self.sources[slug].row_salt for slug in verdict.datasets}

    def _grants(self, datasets) -> list[int]:
        return [self.sources[s].grant_id for s in datasets if s in self.sources and self.sources[s].grant_id is not None]

    def _check_budget(self, plan: dict[str, Any]) -> None:
        """A spent budget refuses every plan naming the grant's dataset, before anything else."""
        if any(self.budget_left.get(g, 0) <= 0 for g in self._grants(datasets_named(plan))):
            raise Refusal("budget", "today's budget of released cells for this grant is spent; try tomorrow")

    def _charge(self, verdict: Verdict, cells: int) -> None:
        """Spend cells from every conditional grant the plan used; refuse when one is out."""
        grants = self._grants(verdict.datasets)
        for grant in grants:
            if self.budget_left.get(grant, 0) < cells:
                raise Refusal("budget", "today's budget of released cells for this grant is spent; try tomorrow")
        self._spend(grants, cells)

    def _spend(self, grants: list[int], cells: int) -> None:
        for grant in grants:
            self.budget_left[grant] = self.budget_left.get(grant, 0) - cells
            self.tally.cells_by_grant[grant] = self.tally.cells_by_grant.get(grant, 0) + cells
        if grants:
            self.tally.cells_charged += cells

    def _charge_release(self, verdict: Verdict, released) -> None:
        """Released, suppressed and withheld cells all cost budget; each suppression is tallied
        under its rule (a suppressed group hides one cell per statistic)."""
        hidden = {"min-cell": released.suppressed_groups * len(verdict.aggregations),
                  "withheld": released.suppressed_cells}
        self._charge(verdict, released.cells + sum(hidden.values()))
        for rule, cells in hidden.items():
            if cells:
                self.tally.suppressed[rule] = self.tally.suppressed.get(rule, 0) + cells
                self.tally.cells_suppressed += cells

    def _touch(self, datasets: tuple[str, ...]) -> None:
        for slug in datasets:
            if slug not in self.tally.datasets:
                self.tally.datasets.append(slug)

    def _refuse(self, rule: str, reason: str, plan: dict[str, Any]) -> dict[str, Any]:
        """A refusal of a plan naming conditional data costs `REFUSAL_COST` cells (what is left
        of them, when the refusal is for the budget itself)."""
        if len(self.tally.refusals) < 100:
            self.tally.refusals.append({"rule": rule, "reason": reason})
        grants = self._grants(datasets_named(plan))
        affordable = min([REFUSAL_COST, *(max(0, self.budget_left.get(g, 0)) for g in grants)])
        if affordable:
            self._spend(grants, affordable)
        return {"status": "refused", "rule": rule, "reason": reason}
