"""Twenty-second red-team round (decision 0029a): an outsider with an ordinary grant over the
sessions API, the anonymous public aggregates beside it, target against ghost (a description
that matches nobody), on what the shared differencing memory compares a cell with (the bounded
search of decisions 0028k and 0028m).

Each test is an attack; "Found" in a docstring says it worked before this round, with the
figures and the fix; "Held" says it did not.
"""

from __future__ import annotations

from tests.integration.sessions.conftest import CLINIC
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who, outsider  # noqa: F401 - the fixture

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

EMERGENCY = "(col('visit_type') == '急诊')"
PAD_DISTRICT = "滨海新区"
PAD = f"({EMERGENCY} & (col('district') == {PAD_DISTRICT!r}))"


def _half(day: int, first: bool) -> str:
    return (f"(col('visit_date').dt.day() == {day}) & "
            f"(col('visit_date').dt.month() {'<=' if first else '>'} 6)")


def _crowders(raw, n: int) -> list[str]:
    """`n` sets of exactly |PAD| + 1 emergency visits, each the pad without the visits of one
    day and half-year (about 23) and with the emergency visits of another district, month and
    half-month of one more: 45 or more records from the pad and from each other, so each is
    answered on its own and remembered, yet holds nearly all the pad's records (so nearly always
    its least record for each of the four min-hashes: the pad's marks). The attacker knows the
    sizes (the visits are theirs or counted before); the records' hashes stay unknown to them."""
    removed = raw.execute(f"""SELECT day(visit_date), month(visit_date) <= 6, count(*) FROM v
        WHERE visit_type = '急诊' AND district = '{PAD_DISTRICT}' GROUP BY ALL ORDER BY ALL""").fetchall()
    added = raw.execute(f"""SELECT district, month(visit_date), day(visit_date) <= 15, count(*) FROM v
        WHERE visit_type = '急诊' AND district <> '{PAD_DISTRICT}' GROUP BY ALL ORDER BY ALL""").fetchall()
    free, out = list(added), []
    for day, first, size in removed:
        match = next((a for a in free if a[3] == size + 1), None)
        if match is None:
            continue
        free.remove(match)
        district, month, early = match[:3]
        extra = (f"({EMERGENCY} & (col('district') == {district!r}) & (col('visit_date').dt.month() == {month}) & "
                 f"(col('visit_date').dt.day() {'<=' if early else '>'} 15))")
        out.append(f"(({PAD} & ~({_half(day, first)})) | {extra})")
        if len(out) == n:
            return out
    raise AssertionError(f"only {len(out)} crowders of the pad's size plus one")


def _figures(who, session: str, sets: list[str], agg: str = "count().alias('n'), sum('cost').alias('c')") -> list:
    """The aggregation `agg` of each set, in cells of at most 10 queries."""
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


def test_cells_holding_a_pad_s_least_records_do_not_push_it_out_of_the_search(outsider, raw):  # noqa: F811
    """Found: an exact membership test for 2 cells a target, any number of targets, after 42
    cells once. Decision 0028m priced crowding the marks' lists at "hundreds to thousands of
    cells a target", guessing which of `A`'s records a crowder must hold. It need not guess: a
    crowder that holds nearly all of a large pad holds its least records too. The pad: the
    1,4xx emergency visits of one district (count and sum(cost), 2 cells). Then 40 crowders
    (one cell each): the pad without the ~23 visits of one day and half-year, with ~24 emergency
    visits of another district added: |pad| + 1 records, 45+ records from the pad and from each
    other (so each answered on its own and remembered), sharing all four of the pad's marks
    nearly always. Then for each target, pad | target: with the target it has |pad| + 1 records,
    the 40 crowders are nearer in size (0 against 1) and, sharing as many marks, fill every
    mark's list (8) before the pad; the pad is never compared and the set is answered afresh (or
    like an earlier target's set, two records from it). Without it, the set *is* the pad
    (`same` finds it): the pad's figures. Before the fix: `[True, False] * 4` over four targets
    and four ghosts (the sum changed for every target, no ghost)."""
    targets = _alone(raw, 4, "visit_type = '住院' AND month(visit_date) = 11")
    people = [p for t in targets for p in (_who(t), _ghost(t))]
    session = outsider.open(CLINIC)
    pad = _figures(outsider, session, [PAD])
    crowd = _figures(outsider, session, _crowders(raw, 40), "count().alias('n')")
    assert sum(isinstance(cell, list) and len(cell) == 1 for cell in crowd) >= 36, crowd
    then = _figures(outsider, session, [f"({PAD} | {person})" for person in people])
    changed = [cell != pad[0] for cell in then]
    print("round22 mark crowding", pad, then, changed)
    # Before the fix: [True, False] * 4 — "the figures changed" was "the target is there".
    assert changed != [True, False] * 4, (pad, then)
