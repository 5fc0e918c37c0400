"""How long the ε-budget mode takes to answer, beside the sdc mode on the same query.

    .venv/bin/python bench/epsilon_mode.py [--runs 7]

Loads the bundled clinic visits (120,000 records) into a temporary instance and times the broker
(no sandbox: the sandbox's fixed cost is measured by bench/sandbox_groupby.py) answering
`group_by("district").agg(count(), mean("cost"))` in the sdc mode and in the ε mode, and a
grouped median in the ε mode (sdc refuses medians of a sensitive field), each also with at most
5 visits per patient (the descriptor's `person`, decision 0030t: a window over the filtered
records before the grouping), alternating, `--runs` times each. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from disclosure_utility import instance  # noqa: E402

from portal.analysis.broker import Broker, GrantedSource  # noqa: E402
from portal.analysis.disclosure import CellKeyNoise, Rules  # noqa: E402
from portal.analysis.epsilon import EpsilonBudget  # noqa: E402
from portal.analysis.policy import SourceInfo  # noqa: E402
from portal.analysis.private_queries import PrivateAnswers, PrivateSource, implied_levels  # noqa: E402
from portal.analysis.sources import analysis_source  # noqa: E402
from portal.db import session_scope  # noqa: E402

SLUG = "clinic-visits-synthetic"


def _plan(*aggs: dict) -> dict:
    return {"version": 1, "action": "collect", "source": SLUG,
            "steps": [{"op": "group_by", "keys": ["district"], "aggs": list(aggs)}]}


COUNT_MEAN = _plan({"op": "alias", "name": "n", "expr": {"op": "count", "args": []}},
                   {"op": "alias", "name": "m", "expr": {"op": "mean", "args": [{"op": "col", "name": "cost"}]}})
MEDIAN = _plan({"op": "alias", "name": "q", "expr": {"op": "median", "args": [{"op": "col", "name": "cost"}]}})


def brokers(app) -> tuple[callable, callable, callable]:
    """Factories of a fresh sdc broker, ε-mode broker and per-person ε-mode broker over the clinic data."""
    with app.app_context(), session_scope(app) as session:
        src = analysis_source(session, SLUG, data_dir=Path(app.config["DATA_DIR"]))
    info = SourceInfo(src.slug, True, tuple(c.name for c in src.table.columns), src.identifiers, src.sensitive,
                      src.bounds, src.levels)
    granted = {SLUG: GrantedSource(info=info, table=src.table, rules=Rules(), row_salt=1, grant_id=1, version=1)}
    private = PrivateSource(1, 0.1, dict(src.bounds), implied_levels(src.table.columns, src.bounds, src.levels),
                            sum_bounds={"cost": (0.0, 50000.0)})

    def sdc() -> Broker:
        return Broker(granted, noise=CellKeyNoise(b"bench"), budget_left={1: 10**9})

    def dp(source: PrivateSource = private) -> Broker:
        answers = PrivateAnswers({SLUG: source}, EpsilonBudget(daily={1: 1e9}, spent_before={}))
        return Broker(granted, noise=CellKeyNoise(b"bench"), budget_left={1: 10**9}, private=answers)

    def per_person() -> Broker:
        return dp(replace(private, person="patient_id", records_per_person=5))

    return sdc, dp, per_person


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as scratch:
        sdc, dp, per_person = brokers(instance(Path(scratch), (SLUG,)))
        cases = {"sdc: count + mean": (sdc, COUNT_MEAN), "ε mode: count + mean": (dp, COUNT_MEAN),
                 "ε mode, 5 visits a patient: count + mean": (per_person, COUNT_MEAN),
                 "ε mode: median": (dp, MEDIAN), "ε mode, 5 visits a patient: median": (per_person, MEDIAN)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs + 1):  # the first round warms caches and is dropped
            for name, (make, plan) in cases.items():
                broker = make()
                start = time.perf_counter()
                answer = broker.execute(plan)
                times[name].append(time.perf_counter() - start)
                assert answer["status"] == "ok", answer
    print("| query (16 districts, 120,000 visits) | median | min |\n|---|---|---|")
    for name, seconds in times.items():
        kept = seconds[1:]
        print(f"| {name} | {statistics.median(kept) * 1000:.0f} ms | {min(kept) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
