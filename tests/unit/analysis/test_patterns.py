"""Attack patterns found in a run's plans (portal/analysis/patterns.py)."""

from __future__ import annotations

from functools import reduce

from portal.analysis.patterns import Query, detect


def _count(*conditions) -> dict:
    steps = [{"op": "filter", "predicate": c} for c in conditions]
    return {"version": 1, "action": "count", "source": "clinic", "steps": steps}


def _cmp(op: str, column: str, value) -> dict:
    return {"op": op, "args": [{"op": "col", "name": column}, {"op": "lit", "value": value}]}


def _flags(queries) -> set[str]:
    return {f["flag"] for f in detect(queries)}


def test_a_binary_search_over_a_threshold():
    lo, hi, queries = 0, 1_000_000, []
    for _ in range(12):
        mid = (lo + hi) // 2
        queries.append(Query(_count(_cmp("gt", "cost", mid)), "ok"))
        lo, hi = (lo, mid) if mid > 123_456 else (mid, hi)
    assert _flags(queries) == {"threshold-bisection"}


def test_a_sweep_of_thresholds():
    queries = [Query(_count(_cmp("ge", "income", 1000 * i)), "ok") for i in range(25)]
    assert _flags(queries) == {"threshold-sweep"}


def test_sets_that_differ_by_one_condition():
    base = _cmp("eq", "visit_type", "住院")
    queries = [Query(_count(base), "ok")]
    queries += [Query(_count(base, {"op": "not", "args": [_cmp("eq", "district", f"d{i}")]}), "ok") for i in range(6)]
    assert _flags(queries) == {"near-identical-sets"}


def test_sets_built_a_described_record_at_a_time():
    """Decision 0030n: the memory's limits are met by sets one described record apart (a chain
    drifting a figure, a pad, a neighbour holding a person): terms of a disjunction or values of
    an `is_in` list, not conjuncts."""
    people = [_cmp("eq", "visit", f"v{i}") for i in range(8)]

    def anyone(terms):
        return reduce(lambda a, b: {"op": "or", "args": [a, b]}, terms)

    chain = [Query(_count(anyone(people[:n])), "ok") for n in range(8, 1, -1)]
    assert _flags(chain) == {"near-identical-sets"}
    listed = [Query(_count({"op": "is_in", "args": [{"op": "col", "name": "visit"}],
                            "values": [f"v{i}" for i in range(n)]}), "ok") for n in range(8, 1, -1)]
    assert _flags(listed) == {"near-identical-sets"}
    apart = [Query(_count(anyone(people[2 * i:2 * i + 2])), "ok") for i in range(4)]  # no two a term apart
    assert detect(apart) == []

    def described(i, flipped):  # a person by two attributes, spelled either way round
        parts = [_cmp("eq", "district", f"d{i}"), _cmp("eq", "visit_date", f"2024-03-{i + 1:02}")]
        if flipped:
            parts = [{"op": "eq", "args": part["args"][::-1]} for part in parts[::-1]]
        return {"op": "and", "args": parts}

    respelled = [Query(_count(anyone([described(i, (n + i) % 2 == 1) for i in range(n)])), "ok")
                 for n in range(8, 1, -1)]
    assert _flags(respelled) == {"near-identical-sets"}


def test_many_refusals():
    queries = [Query(_count(_cmp("eq", "sex", "女")), "refused", "min-cell")] * 7 + [Query(_count(), "ok")] * 3
    assert _flags(queries) == {"many-refusals"}


def test_an_honest_exploration_is_not_flagged():
    plans = [_count(), _count(_cmp("eq", "sex", "女")), _count(_cmp("eq", "district", "河东区")),
             _count(_cmp("ge", "age", 60)), _count(_cmp("ge", "age", 18), _cmp("lt", "age", 65))]
    assert detect([Query(p, "ok") for p in plans]) == []
