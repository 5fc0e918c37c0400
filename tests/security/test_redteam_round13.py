"""Thirteenth red-team round (decision 0027f): an outsider with an ordinary approved grant on the
bundled clinic visits (and the open NYC flights) attacks the broker through the sessions API
(`POST /api/v1/sessions`, `POST /api/v1/sessions/{id}/runs`, `GET /api/v1/runs/{id}?wait=…`).
Round twelve had not tried the ε-budget mode; this round did, with the statistic-form and
memory angles of the SDC mode again.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

import pytest

from portal.access.service import grant_access
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.integration.sessions.conftest import CLINIC, FLIGHTS, Analyst
from tests.security.test_redteam_round7 import _alone, _cell, _ghost, _who

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

# One flight (one row), turned into a lookup whose key is `true`; its other column is named like
# a field of the visits and is text.
LOOKUP = f"""
f = dataset({FLIGHTS!r})
one = f.filter((col('carrier') == 'DL') & (col('flight') == 461) & (col('origin') == 'LGA')
               & (col('month') == 1) & (col('day') == 1))
"""


@pytest.fixture
def dp_outsider(sessions_app):
    """A developer with a `sandbox:run` key and an approved grant on the clinic visits in the
    ε-budget mode (ε 1 a day, 0.1 a query: the defaults)."""
    who = Analyst(sessions_app)
    with sessions_app.app_context(), session_scope(sessions_app) as session:
        grant_access(session, SYSTEM, email=who.email, slug=CLINIC, days=5, purpose="tests",
                     disclosure_mode="dp", daily_epsilon=1.0)
    return who


def test_a_joined_column_under_a_dropped_fields_name_is_no_field_in_the_dp_mode(dp_outsider, raw):
    """Found: an exact membership test, one query (ε 0.1) a target, ten targets a day. The ε
    mode reads a statistic's field by name, and took a name for the dataset's field unless a
    `select`/`with_columns` computed it or a join keyed on it (`private_queries._shadowed`). But
    a join brings a lookup's column in under its own name when the left side no longer has that
    name (the store suffixes `_right` only to names still taken): after
    `d.filter(target).select('district', lit(True).alias('k'))`, a left join on `k` with a
    one-row lookup whose `cost` is the text 'abc' made `cost` the lookup's, 'abc' for the target
    and NULL for nobody else. `median('cost')` then handed 'abc' to the quantile mechanism, which
    failed: `broker-error` when the target was there, a noisy median when not — the ε bought
    nothing, the failure was outside the mechanism. Fix: a name is the field's only while every
    step before the aggregation carried it as it is; a name a `select` dropped stays shadowed
    (`dp-bounds` for a statistic, `dp-levels` for a group key)."""
    targets = _alone(raw, 1, "visit_type = '住院'")
    session = dp_outsider.open(CLINIC, FLIGHTS)
    for person in (_who(targets[0]), _ghost(targets[0])):
        _, got = _cell(dp_outsider, session, LOOKUP + f"""
        lookup = one.select(lit(True).alias('k'), lit('abc').alias('cost'), lit('东丽区').alias('district'))
        q = d.filter({person}).select('district', lit(True).alias('k')).join(lookup.select('k', 'cost'), on='k', how='left')
        r = d.filter({person}).select('cost', lit(True).alias('k')).join(lookup.select('k', 'district'), on='k', how='left')
        print(json.dumps([outcome(lambda: q.group_by('district').agg(median('cost')).collect().rows),
                          outcome(lambda: q.group_by('district').agg(mean('cost')).collect().rows),
                          outcome(lambda: r.group_by('district').agg(count()).collect().rows)]))
        """.replace("\n        ", "\n"))
        # Before the fix, the target: ['broker-error', ...]; the ghost: [[['东丽区', 12709.3]], ...]
        assert got == ["dp-bounds", "unbounded", "dp-levels"], got  # mean: the text is no bounded value either


def test_a_field_carried_as_it_is_still_counts_in_the_dp_mode(dp_outsider):
    """Held (utility): selecting a field as it is, aliasing it to itself, filtering and joining
    on another key keep it the dataset's field."""
    session = dp_outsider.open(CLINIC, FLIGHTS)
    _, got = _cell(dp_outsider, session, LOOKUP + """
    lookup = one.select(lit(True).alias('k'), lit(1).alias('z'))
    q = (d.filter(col('visit_type') == '住院').select('district', col('cost').alias('cost'), lit(True).alias('k'))
         .join(lookup, on='k', how='left'))
    print(json.dumps(outcome(lambda: q.group_by('district').agg(median('cost')).collect().rows)))
    """.replace("\n    ", "\n"))
    assert isinstance(got, list) and len(got) == 16 and all(isinstance(row[1], float) for row in got), got
