"""Eleventh red-team round (decision 0027d): an outsider with an ordinary approved grant on the
bundled clinic visits (and the open NYC flights) attacks the broker through the sessions API
(`POST /api/v1/sessions`, `POST /api/v1/sessions/{id}/runs`, `GET /api/v1/runs/{id}?wait=…`), and
anyone attacks the public aggregates of a conditional dataset. This round aimed away from the
plan-level refusals of single statistics (round ten): joins, the ε-budget mode, the public
aggregates' free repeats, the memory across versions, sessions.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

import pytest

from tests.integration.sessions.conftest import CLINIC, FLIGHTS, Analyst, grant
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

BIG = 2**60  # beside 2^60 a double has steps of 256: 2^60 + 1 ... 2^60 + 31 are all 2^60.0


@pytest.fixture
def outsider(sessions_app):
    """A developer with a `sandbox:run` key and an approved grant on the clinic visits."""
    who = Analyst(sessions_app)
    grant(sessions_app, who.email, cells=5000)
    return who


def _lookup(days: int, cast: str = "") -> str:
    """`days` flights of one daily route in January (one a day), each keyed 2^60 + its day: as
    integers, one row per key."""
    return (f"f.filter((col('carrier') == 'DL') & (col('flight') == 461) & (col('origin') == 'LGA') "
            f"& (col('month') == 1) & (col('day') <= {days}))"
            f".select((lit({BIG}) + col('time_hour').dt.day()){cast}.alias('k'))")


def test_a_lookup_whose_keys_collapse_in_the_join_does_not_multiply_records(outsider, raw):
    """Found: an exact count of any set, so membership of one record in one cell. The broker
    lets open data be joined onto conditional data when the lookup has one row per join key
    (`join-fan-out`, checked on the open data by grouping its keys). The right side's keys here
    are the integers 2^60 + day for ten January days — ten keys, one row each — and the left
    side's key is the float constant 2^60. DuckDB compares an integer with a float as two
    floats, and beside 2^60 a double has steps of 256: all ten integers equal 2^60.0, so every
    visit was joined ten times. A count was then ten times the number of records, and the cell
    key (the XOR of the records' keys, each XORed ten times) was 0 for every set: one draw for
    every cell, so no noise between sets at all. The whole table came out 1,200,000 (ten times
    its public row count), each target visit alone in its quasi-identifiers and date came out
    10, and each ghost (the same description, nobody) null: four targets of four, no ghost,
    one cell each. Twenty days gave 20 and null.
    Fix: join keys must be of one type on both sides (as in Polars), so keys compare as the
    check groups them; `.cast('number')` on the right makes the ten keys one, and the lookup is
    refused for its fan-out (`store.plans._joinable`)."""
    targets = _alone(raw, 4, "visit_type = '住院' AND month(visit_date) = 9")
    session = outsider.open(CLINIC, FLIGHTS)
    persons = ", ".join([_who(t) for t in targets] + [_ghost(t) for t in targets])
    _, got = _cell(outsider, session, f"""
        f = dataset({FLIGHTS!r})
        out = []
        for days in [10, 20]:
            for cast in ['', 'number']:
                lookup = {_lookup(0).replace('<= 0', '<= days')}
                if cast:
                    lookup = lookup.with_columns(col('k').cast(cast).alias('k'))
                q = d.with_columns(lit({float(BIG)!r}).alias('k')).join(lookup, on='k', how='inner')
                out.append([outcome(lambda: q.count())] + [outcome(lambda: q.filter(p).count()) for p in [{persons}]])
        print(json.dumps(out))
    """)
    # Before the fix, for 10 days: [1200000, 10, 10, 10, 10, None, None, None, None]; 20: 20s.
    for (integers, floats) in (got[0:2], got[2:4]):
        assert set(integers) == {"bad-type"}, got
        assert set(floats) == {"join-fan-out"}, got
