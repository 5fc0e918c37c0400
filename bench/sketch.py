"""The differencing sketch of a conditional cell, 0030b's statement against 0031c's, in one run.

    .venv/bin/python bench/sketch.py [--runs 25] [--rounds 3]

Over the bundled clinic visits (120,000 records) and their keyed copy (`store/record_keys.py`),
on a confined DuckDB connection of two threads like the broker's (`store.confined`), per plan:

- `statement`: the sketch statement alone (`plans._sketches`: the plan's CTEs, then
  `sketch_sql`'s tail, fetched), 0030b's spelling (`tests/unit/store/sketch_0030b.py`) and the
  store's now, run in turns;
- `count_plan`: for the ungrouped count, the store's whole `count_plan` (compiling, the statement,
  the fold) with each spelling.

Prints the median and least wall time and the median process CPU (all DuckDB threads) of `runs`
runs per round, beside the load average, and checks that both spellings give the same sketches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the reference in tests/

from portal.store import StoredTable, ingest, keyed, plans  # noqa: E402
from portal.store.connection import confined  # noqa: E402
from tests.unit.store import sketch_0030b  # noqa: E402

CSV = Path(__file__).resolve().parent.parent / "datasets" / "clinic-visits-synthetic" / "visits.csv.gz"
SALT = {"visits": 0x5EED_C0FF_EE12_3456}
COUNT = {"version": 1, "source": "visits", "action": "count", "steps": []}


def grouped(*keys: str) -> dict:
    return {"version": 1, "source": "visits", "action": "collect",
            "steps": [{"op": "group_by", "keys": list(keys), "aggs": [{"op": "count", "args": []}]}]}


PLANS = {"count (ungrouped)": COUNT, "by district (16 cells)": grouped("district"),
         "by district, age band (~130 cells)": grouped("district", "age_band"),
         "by patient (~40,000 cells)": grouped("patient_id")}
SPELLINGS = {"0030b": (sketch_0030b.sketch_sql, sketch_0030b.fold_sketches),
             "0031c": (plans.sketch_sql, plans.fold_sketches)}


def use(spelling: str) -> None:
    plans.sketch_sql, plans.fold_sketches = SPELLINGS[spelling]


def sketch_of(plan: dict, tables: dict) -> Callable[[], dict]:
    """The plan's sketch statement as `run_plan` / `count_plan` run it, ready to time."""
    compiler = plans._Compiler(tables, SALT)
    relation = compiler.per_person(compiler.pipeline(plan))
    if relation.grouped_from:  # a group_by's input and keys
        source, key, keys = relation.grouped_from
    else:
        source, key, keys = relation.cte, relation.key, ()
    return lambda: plans._sketches(compiler, source, key, list(keys))


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    found = work()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, found


def figures(samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return f"wall p50 {statistics.median(walls):6.1f} min {min(walls):6.1f}, CPU p50 {statistics.median(cpus):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stored = ingest(CSV, Path(folder) / "store")
        table = StoredTable(stored.path, stored.columns)
        tables = {"visits": replace(table, keyed=keyed(table))}
        with confined(tables["visits"].files(), memory_limit="1GB", threads=2):
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}, load {os.getloadavg()[0]:.1f}")
                for name, plan in PLANS.items():
                    runs = max(3, args.runs // 10) if "patient" in name else args.runs
                    samples: dict[str, list] = {s: [] for s in SPELLINGS}
                    found: dict[str, object] = {}
                    for _ in range(runs):
                        for spelling in SPELLINGS:  # in turns, so load falls on both alike
                            use(spelling)
                            wall, cpu, found[spelling] = timed(sketch_of(plan, tables))
                            samples[spelling].append((wall, cpu))
                    assert found["0030b"] == found["0031c"], f"{name}: the sketches differ"
                    for spelling in SPELLINGS:
                        print(f"  statement, {name:36s} {spelling}: {figures(samples[spelling])}")
                samples = {s: [] for s in SPELLINGS}
                for _ in range(args.runs):
                    for spelling in SPELLINGS:
                        use(spelling)
                        wall, cpu, found[spelling] = timed(lambda: plans.count_plan(COUNT, tables, row_keys=SALT))
                        samples[spelling].append((wall, cpu))
                assert found["0030b"] == found["0031c"], "count_plan: the counts or sketches differ"
                for spelling in SPELLINGS:
                    print(f"  count_plan, {'count (ungrouped)':35s} {spelling}: {figures(samples[spelling])}")
        use("0031c")


if __name__ == "__main__":
    main()
