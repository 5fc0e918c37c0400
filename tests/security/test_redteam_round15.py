"""Fifteenth red-team round (decision 0027h): the code of the last two rounds — the ε mode's
failures answered like no records (`private_queries._as_empty`), the sample's levels by
frequency, and the contributors test decided on metadata (`columns_with_zero`,
`Aggregation.all_contribute`).

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

from tests.integration.sessions.conftest import CLINIC
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who, outsider  # noqa: F401 - the fixture
from tests.security.test_redteam_round13 import dp_outsider  # noqa: F401 - the fixture

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

# A date DuckDB reads (its dates reach year 5,881,580) but whose year is far outside the
# ±300,000 the interval check assumes for a year: times 2^43 it passes the check (2.6e18 < 2^62)
# and overflows BIGINT when a row evaluates it.
FAR_YEAR = "year = lit('5000000-01-01').cast('date').dt.year() * 8796093022208"

# Every record but the target passes on the left of the OR; DuckDB evaluates the right side
# only for the rows still undecided, so the overflow happens exactly when the target is there.
ATTACK = FAR_YEAR + """
q = d.filter(~{person} | (year > col('visit_date').dt.month()))
print(json.dumps([outcome(lambda: q.count()),
                  outcome(lambda: q.group_by('visit_type').agg(count()).collect().rows)]))
"""


def _answers(who, raw) -> list:
    target = _alone(raw, 1, "visit_type = '住院'")[0]
    session = who.open(CLINIC)
    return [_cell(who, session, ATTACK.format(person=person))[1] for person in (_who(target), _ghost(target))]


def test_a_failure_on_the_target_row_alone_is_refused_before_running_in_the_dp_mode(dp_outsider, raw):  # noqa: F811
    """Found: an exact membership test, one query (ε 0.1) a target. The ε mode answers a failure
    while reading like a set with no records (decision 0027g) — which hides the failure only when
    the set that failed would have been empty. `filter(~target | (year(far date) * 2^43 >
    month))` keeps every visit; DuckDB evaluates the right side of the OR only for the rows the
    left left undecided, that is the target's, and there the year (5,000,000, where the interval
    check assumed at most 300,000) overflows. Target: noisy counts of nothing (≈ 0); ghost: of
    every visit (thousands). Fix: a year's range is every DuckDB date's (±5,881,580), so
    `year * 2^43` is refused before running (`out-of-range`), for the target and a ghost alike."""
    target, ghost = _answers(dp_outsider, raw)
    # Before the fix, the target: [4, [['门诊', -12, ...], ...]]; the ghost: [120002, [['门诊', 100779, ...], ...]]
    assert target == ghost == ["out-of-range", "out-of-range"], (target, ghost)


def test_a_failure_on_the_target_row_alone_is_refused_before_running(outsider, raw):  # noqa: F811
    """Found: the same in the SDC mode, where a failure while running is released as
    all-suppressed cells: null for the target, the listed count of every visit for a ghost.
    Same fix, same refusal."""
    target, ghost = _answers(outsider, raw)
    # Before the fix, the target: [None, []]; the ghost: [120000, [['门诊', 100775], ...]]
    assert target == ghost == ["out-of-range", "out-of-range"], (target, ghost)
