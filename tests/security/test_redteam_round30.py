"""Thirtieth red-team round (decision 0029w): the attack decisions 0029a and 0029u left open as an
estimate, run over the sessions API. The memory's search computed the spread for the `WINDOW`
(256) remembered cells nearest a set in *size* only; 256 cells nearer in size than the pad `P`,
each holding nearly all of it (so sharing its four marks), pushed `P` out of the window and out
of every mark's list. The window is now taken by the first part's lower bound (decision 0030a):
both tests are held. Built like round 22 (its `_world` and `_one_sided`: the targets' sets asked in
one world, the ghosts' in another, the memory reset between them).

Each test is an attack; "Found" in a docstring says it worked, with the figures; "Held" says it
did not.
"""

from __future__ import annotations

from portal.analysis import memory
from tests.security.test_redteam_round7 import _alone, _ghost, _who, outsider  # noqa: F401 - the fixture
from tests.security.test_redteam_round22 import (
    EMERGENCY,
    PAD,
    PAD_DISTRICT,
    _half,
    _one_sided,
    _world,
)

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]


def _window_crowders(raw, n: int, heavier: int) -> list[str]:
    """`n` sets of exactly |PAD| + `heavier` emergency visits: the pad without the visits of one
    day and half-year (11 to 37), with the emergency visits of another district, month and
    half-month, `heavier` more. Each (removed, added) pair is used once and both kinds are
    disjoint groups of 10 or more, so every two crowders differ by 20 records or more, as each
    does from the pad: each is answered on its own and remembered. Holding nearly all of the
    pad, a crowder nearly always holds its least record for each of the four min-hashes (its
    marks). The added groups are spread over the removed ones, each added group used before any
    is used twice. The attacker knows the sizes (their own visits, or counted before); the
    records' keyed hashes stay unknown to them."""
    removed = raw.execute(f"""SELECT day(visit_date), month(visit_date) <= 6, count(*) FROM v
        WHERE visit_type = '急诊' AND district = '{PAD_DISTRICT}' GROUP BY ALL HAVING count(*) >= 10
        ORDER BY ALL""").fetchall()
    added = raw.execute(f"""SELECT district, month(visit_date), day(visit_date) <= 15, count(*) FROM v
        WHERE visit_type = '急诊' AND district <> '{PAD_DISTRICT}' GROUP BY ALL HAVING count(*) >= 10
        ORDER BY ALL""").fetchall()
    pairs, used = [], set()
    for rounds in range(len(removed)):
        for a in added:
            r = [r for r in removed if r[2] + heavier == a[3]]
            if r and (r[rounds % len(r)], a) not in used:
                used.add((r[rounds % len(r)], a))
                pairs.append((r[rounds % len(r)], a))
            if len(pairs) == n:
                break
        if len(pairs) == n:
            break
    assert len(pairs) == n, f"only {len(pairs)} crowders of the pad's size plus {heavier}"
    out = []
    for (day, first, _), (district, month, early, _) in pairs:
        extra = (f"({EMERGENCY} & (col('district') == {district!r}) & (col('visit_date').dt.month() == {month}) & "
                 f"(col('visit_date').dt.day() {'<=' if early else '>'} 15))")
        out.append(f"(({PAD} & ~({_half(day, first)})) | {extra})")
    return out


CROWDERS = memory.WINDOW  # exactly the window: they crowd the marks' lists too (they share the marks)


def test_a_window_of_cells_nearer_in_size_pushes_the_pad_out_of_the_search(outsider, raw):  # noqa: F811
    """Held since decision 0030a (the window by the lower bound: the crowders' bounds are 20 or
    more, the pad's 1). Found (decision 0029w): an exact membership test, 258 cells once (the pad's
    count and sum, 256 crowders), then 2 cells a target (1 with the sum alone), for every target
    `pad | target` can describe. Decision 0029u's open estimate, run: the pad (the 1,471
    emergency visits of 滨海新区, count and sum), then `WINDOW` crowders of exactly |pad| + 1
    records holding nearly all of it (`_window_crowders`), then `pad | person` for four targets
    (world one) or four ghosts (world two). A target's set has |pad| + 1 records: every crowder
    is nearer in size (0 against 1), so the pad is not among the 256 whose spread is computed,
    and the crowders, sharing as many marks and nearer in size, fill every mark's 8 before it.
    A ghost's set *is* the pad (`same`, never cut): the pad's figures whatever the memory holds.
    Measured: pad 1,470 / 2,020,000; all 256 crowders answered on their own; every target's set
    1,470 / 1,910,000 (the first afresh, the others snapped to it, two records away), every
    ghost's 1,470 / 2,020,000. With 255 crowders the pad is the window's 256th and every set
    keeps its figures (the control, run by hand). About 50 s for both worlds (26 runs of 10
    crowders each)."""
    targets = _alone(raw, 4, "visit_type = '住院' AND month(visit_date) = 11")
    crowders = _window_crowders(raw, CROWDERS, 1)
    worlds = [_world(outsider, PAD, crowders, [f"({PAD} | {person(t)})" for t in targets], CROWDERS - 8)
              for person in (_who, _ghost)]
    _one_sided("round30 window", *worlds)


KNOWN_MONTH = 12


def test_a_window_of_cells_nearer_a_target_s_set_than_the_pad_splits_two_records_away(outsider, raw):  # noqa: F811
    """Held since decision 0030a, like the test above. Found (decision 0029w): the same price, 258 cells once and 2 a target. The
    variant with `d` = 2 known inpatient visits `K`: `pad | K | person` has |pad| + 3 records
    for a target (3 from the pad) and |pad| + 2 for a ghost (2 from it, and decoded: snapped to
    the pad unless the difference `K` is listed, one draw the attacker sees and re-rolls with
    another `K`). Crowders of |pad| + 5 records are nearer in size than the pad to a target's
    set (2 against 3) and farther from a ghost's (3 against 2; a tie would go to the newer
    crowders), so they push the pad out for the targets only. In general crowders of |pad| +
    2d + 1 records split the worlds for any `d` within the search's reach: the spread plays no
    part (the pad is never ranked in the target's world). Measured: pad 1,470 / 2,020,000;
    every target's set 1,480 / 2,190,000 (afresh, then snapped to the first), every ghost's
    1,470 / 2,020,000 (snapped to the pad: this `K`'s difference was not listed). About 90 s
    for both worlds."""
    known = [_who(v) for v in _alone(raw, 2, f"visit_type = '住院' AND month(visit_date) = {KNOWN_MONTH}")]
    targets = _alone(raw, 4, "visit_type = '住院' AND month(visit_date) = 11")
    crowders = _window_crowders(raw, CROWDERS, 5)
    base = f"({PAD} | {' | '.join(known)}"
    worlds = [_world(outsider, PAD, crowders, [f"{base} | {person(t)})" for t in targets], CROWDERS - 8)
              for person in (_who, _ghost)]
    _one_sided("round30 window, two known", *worlds)
