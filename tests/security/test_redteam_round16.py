"""Sixteenth red-team round (decision 0028a): the class of data-dependent failures confined to one
row. Round fifteen (0027h) closed one range assumption (a year's) that a single row could break,
and left the class open: any row-level expression that DuckDB can fail on, evaluated on the
target's row alone — behind an `OR` (DuckDB evaluates the right side only for the rows the left
side leaves undecided), an `AND`, or a filter that lets only the target's row through — is a
failure exactly when the target is there, and a failure while reading is answered differently
from a success (all-suppressed cells in the SDC mode, noisy counts of nothing in the ε mode).

Each test is an attack by an outsider with an ordinary approved grant on the bundled clinic
visits, through the sessions API; "Found" says what the attacker learnt before this round and the
fix, "Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick
the target.
"""

from __future__ import annotations

from tests.integration.sessions.conftest import CLINIC
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who, outsider  # noqa: F401 - the fixture
from tests.security.test_redteam_round13 import dp_outsider  # noqa: F401 - the fixture

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

# A date DuckDB reads (its dates reach year 5,881,580) compared with a timestamp: DuckDB casts
# the date to a timestamp to compare them, and a timestamp ends in year 294,247, so the cast
# fails — when, and only when, a row evaluates the comparison. No interval is involved: the plan
# policy checks ranges of numbers, and a comparison of two temporal values was taken for total.
FAR_VS_TIMESTAMP = "(lit('5000000-01-01').cast('date') > lit('2020-01-01 00:00:00').cast('datetime'))"

# The ways to confine a failing expression to the target's row, in one set of every visit but
# the target's own record's contribution: an OR (the right side only where the left is false), an
# AND inside it, and a computed column the filter reads.
FORMS = {
    "or": "d.filter(~{person} | {fail})",
    "and": "d.filter(~{person} | ({person} & {fail}))",
    "column": "d.with_columns((~{person} | {fail}).alias('z')).filter(col('z'))",
}

PROBE = """
q = {form}
print(json.dumps([outcome(lambda: q.count()),
                  outcome(lambda: q.group_by('visit_type').agg(count()).collect().rows)]))
"""


def _answers(who, raw, fail: str) -> dict:
    """Per form, (the target's answer, a ghost's answer) in one session."""
    target = _alone(raw, 1, "visit_type = '住院'")[0]
    session = who.open(CLINIC)
    out = {}
    for name, form in FORMS.items():
        out[name] = [_cell(who, session, PROBE.format(form=form.format(person=person, fail=fail)))[1]
                     for person in (_who(target), _ghost(target))]
    return out


def _counts(answer: list) -> list:
    """[count, [[visit type, count, ...], ...]] -> the counts alone."""
    total, rows = answer
    return [total] + [row[1] for row in rows]


def test_a_far_date_compared_with_a_timestamp_fails_on_no_row(outsider, raw):  # noqa: F811
    """Found: an exact membership test, one query a target, with no range assumption involved.
    DuckDB compares a date with a timestamp as two timestamps and fails the cast of a date past
    year 294,247 (dates reach 5,881,580), on the row that reaches the comparison: behind
    `~target | (...)`, `~target | (target & ...)` or a computed column the filter reads, the
    target's row alone. The SDC broker released the failure as all-suppressed cells: null and
    `[]` for the target, 120,000 and three listed cells for a ghost, in every form. Fix (0028a):
    the date is read with TRY_CAST (NULL where it is no timestamp), and every row expression of a
    plan runs under DuckDB's `TRY`, so no row-level failure leaves the store: the target's row
    drops out of a set of 120,000, a one-record change the memory snaps."""
    answers = _answers(outsider, raw, FAR_VS_TIMESTAMP)
    # Before the fix, per form: target [None, []], ghost [120000, [['门诊', 100775], ['急诊', 9845], ['住院', 9380]]]
    for form, (target, ghost) in answers.items():
        assert target[0] is not None and len(target[1]) == len(ghost[1]) == 3, (form, target, ghost)
        assert all(abs(a - b) <= 10 for a, b in zip(_counts(target), _counts(ghost), strict=True)), (form, target, ghost)


def test_a_far_date_compared_with_a_timestamp_fails_on_no_row_in_the_dp_mode(dp_outsider, raw):  # noqa: F811
    """Found: the same in the ε mode, where a failure while reading is answered like a set with
    no records (decision 0027g): noisy counts of nothing for the target (-16; 6 with the AND
    form; 24 with the computed column), of every visit for a ghost (119,970; 120,005), ε 0.1 a
    query. Same fix: the target's row drops out, both are counts of about 120,000."""
    answers = _answers(dp_outsider, raw, FAR_VS_TIMESTAMP)
    # Before the fix: 'or' target [-16, ...], ghost [119970, ...]; 'and' [6, ...] against [120005, ...]
    for form, (target, ghost) in answers.items():
        for answer in (target, ghost):
            if answer != ["epsilon-budget", "epsilon-budget"]:  # ten queries of 0.1 a day
                assert answer[0] > 110_000, (form, target, ghost)


# Round fifteen's attack: a year (5,000,000) past the range the interval check assumes, times 2^43.
FAR_YEAR = "(lit('5000000-01-01').cast('date').dt.year() * 8796093022208 > col('visit_date').dt.month())"


def _broken_year(monkeypatch) -> None:
    """The interval check's range of a year put back where round fifteen found it (±300,000): a
    range assumption that one row can break, standing for any such assumption not yet found."""
    from portal.analysis import intervals
    monkeypatch.setitem(intervals.DATE_PARTS, "year", (-300_000.0, 300_000.0))


def _or_form(who, raw) -> list:
    target = _alone(raw, 1, "visit_type = '住院'")[0]
    session = who.open(CLINIC)
    return [_cell(who, session, PROBE.format(form=FORMS["or"].format(person=person, fail=FAR_YEAR)))[1]
            for person in (_who(target), _ghost(target))]


def test_a_broken_range_assumption_is_a_null_on_the_target_row(outsider, raw, monkeypatch):  # noqa: F811
    """The class (left open by round fifteen): whatever range assumption of the plan policy a
    row can break, the failure stays on that row as a NULL. With the year's range put back at
    ±300,000, round fifteen's overflow passes the policy; under `TRY` the multiplication is NULL
    on the target's row, `~target | NULL` drops it, and the set is every visit but one — snapped
    to a ghost's. Without `TRY`: null and `[]` for the target, 120,000 and three listed cells
    for a ghost."""
    _broken_year(monkeypatch)
    target, ghost = _or_form(outsider, raw)
    assert target == ghost, (target, ghost)
    assert target[0] is not None, target


def test_a_broken_range_assumption_is_a_null_on_the_target_row_in_the_dp_mode(dp_outsider, raw, monkeypatch):  # noqa: F811
    """The same in the ε mode: noisy counts of every visit for both (without `TRY`: -13 against
    120,010 this round, 4 against 120,002 in round fifteen)."""
    _broken_year(monkeypatch)
    target, ghost = _or_form(dp_outsider, raw)
    assert target[0] > 110_000 and ghost[0] > 110_000, (target, ghost)
