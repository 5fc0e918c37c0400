"""The sample data of a dataset in the ε-budget mode, in two worlds a person apart (decision 0031a).

Three hundred known people have one to three visits each, in three common diagnosis groups. The
dictionary also declares a rare group, 罕见, which none of them has. World A adds the target:
forty visits, all in 罕见, all of cost 40,000, all in December. World B is world A without the
target — one person apart, 40 records apart.

Found (free and anonymous: one download of the sample): the sample was built under the
statistical rules, calibrated for one record. The target's forty visits made 罕见 a listed value
of forty records, drawn into the 1,000 rows of every sample with the target and of none without
it — the ε mode's promise to protect a person broken by its own dataset page.

Fixed: in the ε mode every column that reads the records is one release of the mode's mechanism —
counts per declared level, per bin of a fixed grid inside the declared bounds, per month of the
declared coverage — with each person's records capped at `records_per_person` (5) and the noise
calibrated for them, at the sample's ε split between its columns. The target moves each column's
counts by at most 5 in all (checked on what reaches the mechanism), and whether and how often
罕见 is drawn is distributed alike in both worlds (measured over many samples).
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date
from pathlib import Path

import duckdb
import pytest

from portal import store
from portal.analysis import privacy, private_samples
from portal.analysis.private_samples import PrivateSample, coverage_months, write_private_sample
from portal.analysis.samples import write_sample
from tests.integration.analysis.conftest import FIXED_KEY

COMMON = ("呼吸", "循环", "消化")
RARE = "罕见"
LEVELS = (*COMMON, RARE)
CAP = 5
EPSILON = 0.5
VISITS = 40
COLUMNS = (store.Column("visit_id", "text"), store.Column("pid", "text"), store.Column("diagnosis", "text"),
           store.Column("cost", "integer"), store.Column("visit_date", "date"))
READING = 3  # diagnosis, cost, visit_date: the identifiers and the person are invented codes


def _known() -> list[tuple]:
    rng = random.Random(31)
    rows = []
    for i in range(300):
        diagnosis = rng.choice(COMMON)
        for v in range(rng.randint(1, 3)):
            rows.append((f"K{i}-{v}", f"P{i:04d}", diagnosis, rng.randint(50, 20000),
                         date(2023, rng.randint(1, 11), rng.randint(1, 28))))
    return rows


TARGET = [(f"T{i}", "P9999", RARE, 40000, date(2023, 12, 1 + i % 28)) for i in range(VISITS)]


def _table(root: Path, name: str, rows: list[tuple]) -> store.StoredTable:
    path = root / f"{name}.parquet"
    con = duckdb.connect()
    con.execute("CREATE TABLE t (visit_id VARCHAR, pid VARCHAR, diagnosis VARCHAR, cost BIGINT, visit_date DATE)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()
    return store.StoredTable(path, COLUMNS, bounds=(("cost", 0, 50000),))


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample-worlds")
    known = _known()
    return {"A": _table(root, "with", known + TARGET), "B": _table(root, "without", known)}


def _spec(epsilon: float = EPSILON) -> PrivateSample:
    # The salt that picks a person's five records comes from the disclosure key, as in the portal.
    salt = int(FIXED_KEY[:14], 16)
    return PrivateSample("visits", frozenset({"visit_id"}), {"diagnosis": LEVELS}, {"cost": (0.0, 50000.0)},
                         coverage_months(date(2023, 1, 1), date(2023, 12, 31)), "pid", CAP, salt, epsilon)


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class Recorder:
    """Every count as it reaches the mechanism (before noise), with its ε and its cap."""

    def __init__(self, monkeypatch):
        self.seen: list[tuple[int, float, int]] = []
        original = privacy.release_count

        def release(records, epsilon, **kwargs):
            self.seen.append((records, epsilon, kwargs.get("per_person", 1)))
            return original(records, epsilon, **kwargs)

        monkeypatch.setattr(privacy, "release_count", release)


def test_the_statistical_sample_showed_the_person(worlds, tmp_path):
    """The finding, kept as the statistical mode still builds it (a dataset declared statistical
    protects a record, not a person): 罕见 is in every sample with the target, in none without."""
    drawn = {world: sum(any(r["diagnosis"] == RARE for r in _rows(write_sample(
        table, tmp_path / f"{world}-{n}.csv", identifiers=frozenset({"visit_id", "pid"}), seed=f"{FIXED_KEY}{n}")))
        for n in range(5)) for world, table in worlds.items()}
    assert drawn == {"A": 5, "B": 0}


def test_each_column_is_one_release_of_capped_counts_for_one_person(worlds, tmp_path, monkeypatch):
    """What reaches the mechanism: per column, the declared cells in a fixed order, the same in
    both worlds; the target moves them by at most the cap in all (40 visits counted as 5), each
    count calibrated for the cap, the columns' ε adding up to the sample's."""
    seen = {}
    for world, table in worlds.items():
        recorder = Recorder(monkeypatch)
        write_private_sample(table, tmp_path / f"{world}.csv", _spec(), seed=FIXED_KEY)
        monkeypatch.undo()
        seen[world] = recorder.seen
    cells = {"diagnosis": len(LEVELS), "months": 12}
    assert len(seen["A"]) == len(seen["B"]) > cells["diagnosis"] + cells["months"]
    assert {(e, cap) for _, e, cap in seen["A"] + seen["B"]} == {(EPSILON / READING, CAP)}
    diagnosis = slice(0, cells["diagnosis"])
    assert [n for n, _, _ in seen["A"][diagnosis]][-1] == CAP and [n for n, _, _ in seen["B"][diagnosis]][-1] == 0
    bins = slice(cells["diagnosis"], len(seen["A"]) - cells["months"])
    months = slice(len(seen["A"]) - cells["months"], None)
    for column in (diagnosis, bins, months):
        moved = sum(abs(a - b) for (a, _, _), (b, _, _) in zip(seen["A"][column], seen["B"][column], strict=True))
        assert 0 < moved <= CAP, (column, moved)


def test_the_rare_level_is_drawn_alike_in_both_worlds(worlds):
    """The diagnosis column as the sample makes it (its ε, 0.5 / 3, its cap, its 1,000 draws),
    made 400 times a world with fresh noise: how often 罕见 appears and in how many rows. The
    column is a release at ε 1/6 in which the target is worth 5 records, so any event of it has
    probabilities within a factor e^(1/6) ≈ 1.18 in the two worlds; the statistical sample's
    appearance rates were 1 and 0. The bounds leave five standard errors or more."""
    runs = 400
    column = next(c for c in COLUMNS if c.name == "diagnosis")
    found = {}
    for world, table in worlds.items():
        present, rows = 0, 0
        for n in range(runs):
            drawn = private_samples._levels(table, column, _spec(), EPSILON / READING)
            rng = random.Random(f"{FIXED_KEY}{n}")
            rare = sum(drawn.draw(rng) == RARE for _ in range(1000))
            present, rows = present + (rare > 0), rows + rare
        found[world] = (present / runs, rows / runs)
    (p_a, rows_a), (p_b, rows_b) = found["A"], found["B"]
    bound = math.exp(EPSILON / READING)
    assert p_a <= bound * p_b + 0.2 and 1 - p_b <= bound * (1 - p_a) + 0.2, found
    assert p_b <= bound * p_a + 0.2 and 1 - p_a <= bound * (1 - p_b) + 0.2, found
    assert rows_a < 2 * rows_b + 5 and rows_b < 2 * rows_a + 5, found


def test_what_the_sample_draws_from_is_public_in_both_worlds(worlds, tmp_path):
    """Which values, bins and months can be drawn is the dictionary's, not the records': the
    target's December and cost 40,000 are drawable in both worlds, the declared rare level too,
    and nothing outside the declared levels, bounds and coverage is ever drawn."""
    for world, table in worlds.items():
        drawn = _rows(write_private_sample(table, tmp_path / f"{world}.csv", _spec(0.0), seed=FIXED_KEY))
        assert {r["diagnosis"] for r in drawn} == set(LEVELS), world  # ε 0: uniform over the levels
        assert all(0 <= int(r["cost"]) <= 50000 for r in drawn)
        assert {r["visit_date"][:7] for r in drawn} == {f"2023-{m:02d}" for m in range(1, 13)}
        assert all(r["pid"].startswith("S") and r["visit_id"].startswith("S") for r in drawn)


def test_a_sample_of_no_epsilon_reads_no_record(worlds, tmp_path, monkeypatch):
    """The fallback when the sample's ε is spent reads nothing: the same file in both worlds."""
    def refuse(*args, **kwargs):
        raise AssertionError("a sample of ε 0 read the records")

    monkeypatch.setattr(store, "run_plan", refuse)
    monkeypatch.setattr(privacy, "release_count", refuse)
    a, b = (write_private_sample(table, tmp_path / f"{world}.csv", _spec(0.0), seed=FIXED_KEY).read_bytes()
            for world, table in worlds.items())
    assert a == b
