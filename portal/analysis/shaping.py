"""Which cells an aggregation of conditional data can have, and the shaping steps after it.

Both are decided from the plan and the data dictionary, never from the records:

- the cells are the combinations of the group keys' declared levels (`constraints.enum`, small
  integer ranges, months and days), in declared order. A combination with no records is a cell
  like any other (records 0): it goes through the same threshold as a cell with a few records,
  so the two look alike; a group in the data outside the declared levels is never listed. The
  group limit is the number of combinations, known before the query runs;
- `sort` and `limit` after the aggregation run here, on the *released* values: run by the
  store on the true values, `sort(count).limit(1)` would pick a cell by a value nobody saw.

Pure: no database.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from portal import store
from portal.analysis.disclosure import Aggregation
from portal.analysis.lineage import Refusal
from portal.store import output_name


@dataclass(frozen=True)
class Candidates:
    """The cells an aggregation can release: one tuple of key values each, in declared order."""

    keys: tuple[tuple, ...]

    def __len__(self) -> int:
        return len(self.keys)

    def fill(self, rows: list[tuple], stats: list[store.CellStats], width: int,
             aggregations: tuple[Aggregation, ...]) -> tuple[list[tuple], list[store.CellStats]]:
        """Rows and statistics for exactly the candidate cells: found ones as computed, the
        others as cells of no records."""
        found = {tuple(row[:width]): (row, stat) for row, stat in zip(rows, stats, strict=False)}
        n = len(aggregations)
        empty = store.CellStats(0, 0, (0,) * n, present=(0,) * n)
        out_rows, out_stats = [], []
        for key in self.keys:
            row, stat = found.get(key, (key + (None,) * n, empty))
            out_rows.append(row)
            out_stats.append(stat)
        return out_rows, out_stats


def candidate_cells(keys: list[str], levels: tuple[tuple | None, ...], max_groups: int) -> Candidates:
    """Raises: Refusal `too-many-groups` when a key has no declared levels or the combinations
    are more than `max_groups`."""
    for key, values in zip(keys, levels, strict=True):
        if values is None:
            raise Refusal("too-many-groups", f"{key!r} has no declared levels (the data dictionary's "
                                             "constraints.enum): conditional data is grouped only by keys whose "
                                             "possible values are public")
    size = math.prod(len(values) for values in levels)
    if size > max_groups:
        raise Refusal("too-many-groups", f"{size} possible groups (declared levels of {', '.join(keys)}), more "
                                         f"than {max_groups}: use coarser group keys, or filter first")
    return Candidates(tuple(itertools.product(*levels)))


def split_plan(plan: dict[str, Any], aggregations: tuple[Aggregation, ...]) -> tuple[dict[str, Any], list[dict]]:
    """(The plan the store runs: up to the aggregation, each sum or mean of `a * B + b` asked as
    B; the sort and limit steps that follow it, for `sort_and_limit`)."""
    steps = plan["steps"]
    last = max(i for i, step in enumerate(steps) if step["op"] == "group_by")
    group = dict(steps[last])
    offset = len(group["keys"])
    aggs = list(group["aggs"])
    for agg in aggregations:
        if agg.rewrite is not None:
            node = aggs[agg.index - offset]
            inner = node["expr"] if node["op"] == "alias" else node
            aggs[agg.index - offset] = {"op": "alias", "name": output_name(node),
                                        "expr": {**inner, "args": [agg.rewrite]}}
    group["aggs"] = aggs
    return {**plan, "steps": [*steps[:last], group]}, list(steps[last + 1:])


def sort_and_limit(rows: list[list[Any]], names: list[str], shaping: list[dict]) -> list[list[Any]]:
    """Apply sort (stable, nulls last, like the store) and limit steps to released rows."""
    for step in shaping:
        if step["op"] == "limit":
            rows = rows[:step["n"]]
            continue
        for key in reversed(step["by"]):
            index = names.index(key["column"])
            present = [r for r in rows if r[index] is not None]
            present.sort(key=lambda r, i=index: r[i], reverse=bool(key["descending"]))
            rows = present + [r for r in rows if r[index] is None]
    return rows
