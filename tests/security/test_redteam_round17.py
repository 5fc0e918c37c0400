"""Seventeenth red-team round (decision 0028c): the broker and the portal around the statistics —
a grant's scope (columns, rows, versions), budgets and accounting, cross-user state, the public
side — attacked by an outsider over HTTP (`POST /api/v1/sessions`, `…/runs`, `GET
/api/v1/runs/{id}?wait=…`), with a steward's approval scoped as the review form scopes it.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from portal.access.models import Grant
from portal.access.service import grant_access
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.integration.sessions.conftest import CLINIC, FLIGHTS, Analyst
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

ALL_BUT_COST = ("visit_date", "district", "age_band", "sex", "diagnosis_group", "department", "visit_type",
                "insurance_type")

# One flight (one row) of the open flights, turned into a lookup whose key is `true`.
LOOKUP = f"""
f = dataset({FLIGHTS!r})
one = f.filter((col('carrier') == 'DL') & (col('flight') == 461) & (col('origin') == 'LGA')
               & (col('month') == 1) & (col('day') == 1))
"""


def _scoped(app, mode: str, columns: tuple[str, ...]) -> Analyst:
    """A developer whose grant on the clinic visits covers `columns` only (as a steward's review
    scopes it), in the `mode` given."""
    who = Analyst(app)
    with app.app_context(), session_scope(app) as session:
        grant_id = grant_access(session, SYSTEM, email=who.email, slug=CLINIC, days=5, purpose="tests",
                                daily_cell_budget=2000, disclosure_mode=mode, daily_epsilon=1.0 if mode == "dp" else None)
        session.scalar(select(Grant).where(Grant.id == grant_id)).columns = list(columns)
        session.commit()
    return who


@pytest.fixture
def dp_scoped(sessions_app):
    return _scoped(sessions_app, "dp", ALL_BUT_COST)


@pytest.fixture
def sdc_scoped(sessions_app):
    return _scoped(sessions_app, "sdc", ALL_BUT_COST)


JOINED_COST = LOOKUP + """
lookup = one.select(lit(True).alias('k'), lit('abc').alias('cost'))
q = d.filter({person}).with_columns(lit(True).alias('k')).join(lookup, on='k', how='left')
print(json.dumps([outcome(lambda: q.group_by('district').agg(median('cost')).collect().rows),
                  outcome(lambda: d.group_by('district').agg(median('cost')).collect().rows)]))
"""


def _both(who, raw, code: str) -> list:
    target = _alone(raw, 1, "visit_type = '住院'")[0]
    session = who.open(CLINIC, FLIGHTS)
    return [_cell(who, session, code.format(person=person))[1] for person in (_who(target), _ghost(target))]


def test_a_joined_column_under_an_ungranted_fields_name_is_no_field_in_the_dp_mode(dp_scoped, raw):
    """Found: an exact membership test, one query (ε 0.1) a target, under a grant whose scope
    leaves out `cost` (an approval of some columns only, on a dataset in the ε mode). Round
    thirteen made a name the field's only while every step carried it as it is, so that a join
    could not bring a lookup's column in under a dropped field's name (decision 0027f). But the
    ε mode took the fields from the stored table, every column of it, and a column the grant's
    scope leaves out is dropped before the first step: the left side has no `cost`, a left join
    brings the lookup's in under that very name, and nothing in the plan dropped it. With a
    one-row lookup whose `cost` is the text 'abc', `median('cost')` handed 'abc' to the quantile
    mechanism for the target's row alone: `broker-error` when the target was there, a noisy
    median (of nothing) when not. Fix: the ε mode's fields are the granted ones; a statistic or
    group key must name a granted field carried as it is (`dp-bounds`, `dp-levels`)."""
    target, ghost = _both(dp_scoped, raw, JOINED_COST)
    # Before the fix, the target: ['broker-error', 'unknown-column']; the ghost: [[['东丽区', 14.7], ...], 'unknown-column']
    assert target == ghost == ["dp-bounds", "unknown-column"], (target, ghost)


def test_a_joined_column_under_an_ungranted_fields_name_is_no_field(sdc_scoped, raw):
    """Held: the same in the SDC mode. The policy's fields are the granted ones, so the joined
    `cost` is the lookup's column there (text: no bounded value to sum)."""
    target, ghost = _both(sdc_scoped, raw, JOINED_COST.replace("median('cost')", "sum('cost')"))
    assert target == ghost == ["unbounded", "unknown-column"], (target, ghost)


def test_sessions_opened_at_once_stay_within_the_concurrent_limit(sessions_app):
    """Found: `SESSION_MAX_CONCURRENT` (3) was checked by counting the person's open sessions and
    then inserting one, with nothing between the two: eight `POST /api/v1/sessions` sent at once
    opened four or five sessions (each on a queue worker of its own, with up to 20 cells queued
    in each). Fix: opening a session is one step per person (a hold across processes on the
    person's id), so the count is always read after the last insert."""
    for _ in range(8):  # the race is won or lost on the threads' timing: eight people try
        who = Analyst(sessions_app)
        codes = _open_at_once(sessions_app, who, 8)
        # Before the fix, e.g.: [201, 201, 201, 201, 201, 409, 409, 409]
        assert sorted(codes) == [201] * 3 + [409] * 5, codes
        assert who.get("/api/v1/sessions").headers["X-Sandbox-Sessions-Open"] == "3"


def _open_at_once(app, who: Analyst, n: int) -> list[int]:
    start = threading.Barrier(n)
    codes = []

    def open_one():
        client = app.test_client()
        start.wait()
        codes.append(client.post("/api/v1/sessions", json={"datasets": []}, headers=who.headers).status_code)

    threads = [threading.Thread(target=open_one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_cells_sent_at_once_to_one_session_are_numbered_once_each(sessions_app):
    """Found (robustness, not disclosure): thirty cells sent at once to one session all read the
    session's `next_index`, so five were queued and twenty-five answered 500 (the unique index on
    the session and index refused them), and the pending count could let more than twenty wait.
    Fix: a cell is counted, numbered and queued as one step per session. Each cell is now queued
    with an index of its own, or refused with 429 `too-many-pending-runs`."""
    who = Analyst(sessions_app)
    session_id = who.open()
    start = threading.Barrier(30)
    answers = []

    def submit():
        client = sessions_app.test_client()
        start.wait()
        answer = client.post(f"/api/v1/sessions/{session_id}/runs", json={"code": "x = sum(range(10 ** 6))"},
                             headers=who.headers)
        answers.append((answer.status_code, (answer.json or {}).get("index")))

    threads = [threading.Thread(target=submit) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Before the fix: [(202, 0), …, (202, 4), (500, None) × 25]
    assert {status for status, _ in answers} <= {202, 429}, answers
    queued = sorted(index for status, index in answers if status == 202)
    assert queued == list(range(len(queued))) and len(queued) >= 20, answers
