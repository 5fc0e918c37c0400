"""The ε mode's per-person cap in the store (decision 0030t): at most `cap` records of each person
reach an aggregation, a count or a plan's rows, after the plan's filters, and which ones depends
on that person's records alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.store import PersonCap, QueryError, StoredTable, ingest
from portal.store.plans import count_plan, run_plan

SALT = 12345
HEADER = "visit_id,patient,district,cost\n"
TARGET = "".join(f"t{i},p-target,{'a' if i < 6 else 'b'},{100 * i}\n" for i in range(10))
OTHERS = "".join(f"o{i},p{i},{'ab'[i % 2]},{i}\n" for i in range(40))
NEWCOMER = "".join(f"n{i},p-new,a,{i}\n" for i in range(7))


def _table(folder, text: str, cap: int = 3, **kwargs) -> StoredTable:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "visits.csv"
    source.write_text(HEADER + text, encoding="utf-8")
    stored = ingest(source, folder / "store", overrides={"cost": "integer"})
    return StoredTable(stored.path, stored.columns, per_person=PersonCap("patient", cap, SALT), **kwargs)


def col(name):
    return {"op": "col", "name": name}


def eq(name, value):
    return {"op": "eq", "args": [col(name), {"op": "lit", "value": value}]}


def plan(*steps, action="collect"):
    return {"source": "visits", "action": action, "steps": list(steps)}


def filtered(predicate):
    return {"op": "filter", "predicate": predicate}


def by_district():
    return {"op": "group_by", "keys": ["district"], "aggs": [{"op": "alias", "name": "n", "expr": {"op": "count", "args": []}}]}


def kept_ids(table: StoredTable, *steps) -> list[str]:
    rows = run_plan(plan(*steps, {"op": "select", "columns": [col("visit_id")]}), {"visits": table}, max_rows=1000).rows
    return sorted(r[0] for r in rows)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("persons")
    return _table(root / "with", OTHERS + TARGET), _table(root / "without", OTHERS)


def test_a_person_with_many_records_counts_with_at_most_the_cap(world):
    with_target, without = world
    assert count_plan(plan(action="count"), {"visits": without})[0] == 40, "one record each: all kept"
    assert count_plan(plan(action="count"), {"visits": with_target})[0] == 43, "ten visits, three counted"
    uncapped = replace(with_target, per_person=None)
    assert count_plan(plan(action="count"), {"visits": uncapped})[0] == 50


def test_the_cap_is_per_person_across_the_cells_of_a_grouped_query(world):
    with_target, without = world
    cells = dict(run_plan(plan(by_district()), {"visits": with_target}, max_rows=10).rows)
    before = dict(run_plan(plan(by_district()), {"visits": without}, max_rows=10).rows)
    moved = {k: cells[k] - before.get(k, 0) for k in cells}
    assert sum(moved.values()) == 3 and all(v >= 0 for v in moved.values()), moved


def test_the_cap_applies_after_the_filter_so_a_query_of_rarer_records_reads_them(world):
    with_target, _ = world
    in_b = filtered(eq("district", "b"))
    mine = [i for i in kept_ids(with_target, in_b) if i.startswith("t")]
    assert len(mine) == 3 and set(mine) < {"t6", "t7", "t8", "t9"}, "four visits in b: three of them, all in b"
    rare = filtered({"op": "is_in", "args": [col("visit_id")], "values": ["t1", "t9"]})
    assert kept_ids(with_target, rare) == ["t1", "t9"]


def test_which_records_are_kept_depends_on_the_persons_own_records_only(world, tmp_path):
    with_target, _ = world
    crowded = _table(tmp_path / "crowded", NEWCOMER + OTHERS + TARGET)
    mine = [i for i in kept_ids(with_target) if i.startswith("t")]
    assert len(mine) == 3
    assert [i for i in kept_ids(crowded) if i.startswith("t")] == mine, "another person's records change nothing"
    assert len([i for i in kept_ids(crowded) if i.startswith("n")]) == 3
    resalted = replace(with_target, per_person=PersonCap("patient", 3, SALT + 1))
    assert len([i for i in kept_ids(resalted) if i.startswith("t")]) == 3


def test_records_without_a_person_are_left_out_so_none_displaces_another(world, tmp_path):
    """One cap for all the person-less records (`PARTITION BY` groups NULLs) let a target without
    a person push the others' records out of it: its cell up, theirs down, twice the cap over a
    grouped query (thirty-sixth round, decision 0030y). Now records of nobody are never read."""
    nobody = "".join(f"x{i},,b,{i}\n" for i in range(4))
    nameless_target = "".join(f"y{i},,a,{i}\n" for i in range(6))
    without = _table(tmp_path / "nobody", OTHERS + nobody)
    with_target = _table(tmp_path / "nameless", OTHERS + nobody + nameless_target)
    for table in (without, with_target):
        assert count_plan(plan(action="count"), {"visits": table})[0] == 40
        assert not [i for i in kept_ids(table) if i[0] in "xy"]
    assert run_plan(plan(by_district()), {"visits": with_target}, max_rows=10).rows == \
        run_plan(plan(by_district()), {"visits": without}, max_rows=10).rows


def test_the_person_is_the_stored_field_whatever_the_plan_renames_or_hides(world):
    with_target, _ = world
    everyone_new = {"op": "with_columns", "columns": [{"op": "alias", "name": "patient", "expr": col("visit_id")}]}
    assert count_plan(plan(everyone_new, action="count"), {"visits": with_target})[0] == 43
    dropped = {"op": "select", "columns": [col("district")]}
    assert sum(r[1] for r in run_plan(plan(dropped, by_district()), {"visits": with_target}, max_rows=10).rows) == 43
    hidden = replace(with_target, visible=("visit_id", "district", "cost"))
    assert count_plan(plan(action="count"), {"visits": hidden})[0] == 43
    result = run_plan(plan({"op": "select", "columns": [col("visit_id")]}), {"visits": hidden}, max_rows=100)
    assert [c.name for c in result.columns] == ["visit_id"], "the person's columns stay hidden"


def test_a_joined_lookup_neither_escapes_nor_multiplies_the_cap(world, tmp_path):
    with_target, _ = world
    (tmp_path / "lookup.csv").write_text("district,name\na,Alpha\nb,Beta\n", encoding="utf-8")
    lookup = ingest(tmp_path / "lookup.csv", tmp_path / "store")
    tables = {"visits": with_target, "lookup": StoredTable(lookup.path, lookup.columns)}
    joined = {"op": "join", "right": {"source": "lookup", "steps": []}, "on": ["district"], "how": "left"}
    assert count_plan(plan(joined, action="count"), tables)[0] == 43
    reversed_ = {"source": "lookup", "action": "count", "steps": [
        {"op": "join", "right": {"source": "visits", "steps": []}, "on": ["district"], "how": "inner"}]}
    with pytest.raises(QueryError):
        count_plan(reversed_, tables)


def test_a_declared_person_that_is_no_column_refuses_every_plan(world):
    with_target, _ = world
    wrong = replace(with_target, per_person=PersonCap("patient_id", 3, SALT))
    with pytest.raises(QueryError) as failed:
        count_plan(plan(action="count"), {"visits": wrong})
    assert not getattr(failed.value, "while_running", False)


def _window_count(table: StoredTable, *steps) -> int:
    """The rows the cap keeps, counted from the rows themselves (the window of `PER_PERSON`)."""
    return len(run_plan(plan(*steps, {"op": "select", "columns": [col("visit_id")]}), {"visits": table},
                        max_rows=100_000).rows)


@pytest.mark.parametrize("seed", range(6))
def test_a_count_under_the_cap_is_the_rows_the_cap_keeps(tmp_path, seed):
    """`count_plan` sums min(records, cap) per person instead of ranking every record (decision
    0031d): the same number as the rows kept, with filters, empty persons and empty selections."""
    import random

    rng = random.Random(seed)
    people = [f"p{i}" for i in range(rng.randint(1, 30))] + [""]
    text = "".join(f"v{i},{rng.choice(people)},{rng.choice('abc')},{rng.randint(0, 99)}\n"
                   for i in range(rng.randint(0, 300)))
    table = _table(tmp_path / "t", text or "v0,,a,1\n", cap=rng.randint(1, 6))
    for steps in ((), (filtered(eq("district", "a")),), (filtered(eq("district", "z")),),
                  (filtered({"op": "gt", "args": [col("cost"), {"op": "lit", "value": 50}]}),)):
        assert count_plan(plan(*steps, action="count"), {"visits": table})[0] == _window_count(table, *steps), steps
