"""Twenty-first red-team round (decision 0028m): an outsider over the sessions API, target
against ghost (a description that matches nobody), combining what the memory's bounded search
(decision 0028k) compares a cell with.

Each test is an attack; "Found" in a docstring says it worked before this round, with the
figures and the fix; "Held" says it did not.
"""

from __future__ import annotations

from tests.integration.sessions.conftest import CLINIC
from tests.security.test_redteam_round7 import _alone, _any, _cell, _ghost, _who, outsider  # noqa: F401 - the fixture

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]


def _sized(raw, records: int, n: int) -> list[str]:
    """`n` outpatient sets of exactly `records` visits (a district, department and month): cells
    the attacker knows the size of, far (in records) from every inpatient pad or target."""
    rows = raw.execute(f"""SELECT district, department, month(visit_date) FROM v WHERE visit_type = '门诊'
        GROUP BY ALL HAVING count(*) = {records} ORDER BY ALL LIMIT {n}""").fetchall()
    assert len(rows) == n
    return [f"((col('visit_type') == '门诊') & (col('district') == {d!r}) & (col('department') == {p!r}) "
            f"& (col('visit_date').dt.month() == {m}))" for d, p, m in rows]


def _figures(who, session: str, sets: list[str], agg: str = "count().alias('n'), sum('cost').alias('c')") -> list:
    """The aggregation `agg` (count and sum(cost)) of each set, in cells of at most 10 queries."""
    out = []
    for start in range(0, len(sets), 10):
        chunk = ", ".join(sets[start:start + 10])
        _, got = _cell(who, session, f"""
            out = []
            for s in [{chunk}]:
                out.append(outcome(lambda: d.filter(s).agg({agg}).collect().rows))
            print(json.dumps(out))
        """)
        out.extend(got)
    return out


def test_cells_nearer_in_size_do_not_push_a_remembered_cell_out_of_the_search(outsider, raw):  # noqa: F811
    """Found: an exact membership test, 2 cells a target once 32 cells of one size are
    remembered (by anyone, for every target). Since decision 0028k a cell is compared with the
    32 remembered cells nearest in size (then the newest). Ask A = (14 known inpatient visits) |
    target: 15 records with the target, 14 without. Then 32 outpatient sets of exactly 14 visits
    (a district, department and month each: any cells of that size will do, asked once). Then
    A & ~target. With the target it has 14 records: the 32 sets of 14 are nearer in size than A
    (15), A is not compared, and the set is answered afresh — a fresh count and a fresh sum
    (Laplace, scale 100,000). Without it, it *is* A (`same` finds it): the same figures. Decision
    0028k called this "a fresh pair", a likelihood look; but the ghost's side is no fresh draw,
    it is the remembered cell itself, so any change proves the target. Four targets, four
    ghosts: the sum changed for every target and no ghost."""
    targets = _alone(raw, 4, "visit_type = '住院' AND month(visit_date) = 4")
    pads = [_alone(raw, 14, "visit_type = '住院' AND month(visit_date) = 8", skip=14 * i) for i in range(8)]
    people = [p for t in targets for p in (_who(t), _ghost(t))]
    session = outsider.open(CLINIC)
    first = _figures(outsider, session, [f"({_any(pads[i])} | {person})" for i, person in enumerate(people)])
    pushed = _figures(outsider, session, _sized(raw, 14, 32))
    assert sum(isinstance(cell, list) and len(cell) == 1 for cell in pushed) >= 28, pushed
    then = _figures(outsider, session, [f"(({_any(pads[i])} | {person}) & ~{person})"
                                        for i, person in enumerate(people)])
    changed = [a != b for a, b in zip(first, then, strict=True)]
    print("round21 memory push", first, then, changed)
    # Before the fix: [True, False] * 4 — "the figures changed" was "the target is there".
    assert changed != [True, False] * 4, (first, then)
