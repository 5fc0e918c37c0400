"""Twelfth red-team round (decision 0027e): an outsider with an ordinary approved grant on the
bundled clinic visits (and the open NYC flights) attacks the broker through the sessions API
(`POST /api/v1/sessions`, `POST /api/v1/sessions/{id}/runs`, `GET /api/v1/runs/{id}?wait=…`).
Rounds ten and eleven each found a place where what the policy reasons about differs from what
DuckDB computes (a cancelled term, join keys of two types); this round hunted for more.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

import pytest

from portal import store
from portal.analysis.policy import SourceInfo, may_be_missing_or_zero
from tests.integration.sessions.conftest import CLINIC, FLIGHTS, Analyst, grant
from tests.security.small_brokers import small_broker, small_table
from tests.security.test_redteam_round7 import _alone, _any, _cell, _ghost, _who

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

# One flight (one row), turned into a lookup whose key is `false` and whose `z` is the constant 0.
LOOKUP = f"""
f = dataset({FLIGHTS!r})
lookup = (f.filter((col('carrier') == 'DL') & (col('flight') == 461) & (col('origin') == 'LGA')
                   & (col('month') == 1) & (col('day') == 1))
          .select(lit(False).alias('k'), lit(0).alias('z')))
"""
PADS = 8  # fresh pads of nine known visits per person: 8 cells a person


@pytest.fixture
def outsider(sessions_app):
    """A developer with a `sandbox:run` key and an approved grant on the clinic visits."""
    who = Analyst(sessions_app)
    grant(sessions_app, who.email, cells=5000)
    return who


def test_a_joined_constant_that_is_null_for_the_target_does_not_reach_a_statistic(outsider, raw):
    """Found: a one-sided membership test, 8 cells a target. A sum or mean of conditional data
    reads one field, `a·x + b` (`statistic-form`), and the policy reads a column brought in by a
    join as what the right side computed: `z = lit(0)` of a one-row lookup was the constant 0, so
    `sum(cost + z)` was `cost` to the policy (one field, no other: `_only` looks for fields). But
    a *left* join leaves `z` NULL where a record has no match, and the key was the target's
    description (`k = person`, the lookup's key `false`): `cost + z` was NULL for the target
    alone. The target then no longer contributed to the sum, and a cell whose records do not all
    contribute decides its sum on a threshold draw of its contributors (`_Cell.enough`), while a
    cell whose records all contribute never withholds it. Over fresh pads of nine known
    outpatient visits plus the target's description, a listed cell with a null sum proved the
    target was there: before the fix, two targets gave 5 and 4 null sums in 8 pads each, two
    ghosts none (their cells listed with a value, or not listed). No memory, no known value.
    Fix: a joined column's tree is marked (`policy._joined`), so it is no constant of the record:
    no statistic of conditional data reads it (`statistic-form`) and it is no round literal for
    a test of a sensitive value (`sensitive-filter`)."""
    targets = _alone(raw, 2, "visit_type = '住院' AND month(visit_date) = 9")
    known = _alone(raw, 4 * PADS * 9, "visit_type = '门诊'")
    pads = [_any(known[i * 9:(i + 1) * 9]) for i in range(4 * PADS)]
    persons = [_who(t) for t in targets] + [_ghost(t) for t in targets]
    session = outsider.open(CLINIC, FLIGHTS)
    for j, person in enumerate(persons):
        _, got = _cell(outsider, session, LOOKUP + f"""
        out = []
        for pad in [{", ".join(pads[j * PADS:(j + 1) * PADS])}]:
            q = d.filter(pad | {person}).with_columns({person}.alias('k')).join(lookup, on='k', how='left')
            out.append(outcome(lambda: q.group_by().agg(sum(col('cost') + col('z')).alias('s')).collect().rows))
        print(json.dumps(out))
        """.replace("\n        ", "\n"))
        # Before the fix, a target: [[], [[None]], [[316000.0]], [], [[None]], [[None]], [[None]], ...]
        assert got == ["statistic-form"] * PADS, got


def test_other_uses_of_a_joined_constant_are_refused(outsider):
    """Found with the attack above (the same marked tree): an inner join's constant in a
    statistic, a mean, a product, a term that cancels, and a joined constant as the "round
    number" a sensitive value is compared with. Held: a joined constant still groups and
    filters like any joined column (its NULL group is no declared level, so it is left out)."""
    session = outsider.open(CLINIC, FLIGHTS)
    _, got = _cell(outsider, session, LOOKUP + """
    q = d.filter(col('visit_type') == '住院').with_columns(lit(False).alias('k'))
    inner, left = q.join(lookup, on='k', how='inner'), q.join(lookup, on='k', how='left')
    out = [outcome(lambda: inner.group_by('sex').agg(sum(col('cost') + col('z'))).collect().rows),
           outcome(lambda: left.group_by('sex').agg(mean(col('cost') * (col('z') + 1))).collect().rows),
           outcome(lambda: left.group_by('sex').agg(sum(col('cost') + col('z') - col('z'))).collect().rows),
           outcome(lambda: left.group_by('sex').agg(sum(col('z'))).collect().rows),
           outcome(lambda: inner.filter(col('cost') >= col('z')).count()),
           outcome(lambda: left.filter(col('z') == 0).group_by('z').agg(count()).collect().rows)]
    print(json.dumps(out))
    """.replace("\n    ", "\n"))
    assert got[:4] == ["statistic-form"] * 4, got
    assert got[4] == "sensitive-filter", got
    assert isinstance(got[5], list) and len(got[5]) == 1 and got[5][0][0] == 0, got


def test_no_limit_before_a_count_of_conditional_data(outsider):
    """Found (a gap in a rule, not an exact leak): `limit-before-aggregate` was checked only when
    a `group_by` followed, so `sort('cost').limit(50).filter(...).count()` counted records chosen
    by the rank of a sensitive value — a test of a visit's cost against the k-th largest, a
    threshold that is no round number — and `limit(n)` picked records by their place in the
    file. Each answer was a noisy count (a pad's strength), but docs/disclosure.md promises no
    limit before any aggregation. Fix: `count()` is an aggregation for the rule."""
    session = outsider.open(CLINIC)
    _, got = _cell(outsider, session, """
    q = d.filter(col('visit_type') == '住院')
    out = [outcome(lambda: q.sort('cost', descending=True).limit(50).filter(col('sex') == '男').count()),
           outcome(lambda: q.limit(20).count()),
           outcome(lambda: q.sort('cost', descending=True).count())]
    print(json.dumps(out))
    """.replace("\n    ", "\n"))
    assert got[:2] == ["limit-before-aggregate"] * 2, got
    assert isinstance(got[2], int), got


# --- A target whose own value is zero or missing (a broker over a small table; the bundled data have neither) ---

PEOPLE = 40


def _amounts_broker(path):
    """Per person i: nine records the attacker knows (amount 50), and the target, whose amount is
    0 (even i) or missing (odd i). Ghosts are not in the table. The disclosure metadata are read
    from the file, as the portal reads them."""
    rows = []
    for i in range(PEOPLE):
        rows += [(f"k{i}-{n}", 50.0) for n in range(9)]
        rows.append((f"t{i}", None if i % 2 else 0.0))
    small_table(path, "tag VARCHAR, amount DOUBLE", rows)
    bounds = {"amount": (0.0, 100.0)}
    missing, zero = may_be_missing_or_zero(("tag", "amount"), bounds, required=())
    info = SourceInfo("amounts", True, ("tag", "amount"), frozenset(), frozenset({"amount"}),
                      bounds=bounds, missing=missing, zero=zero)
    columns = (store.Column("tag", "text"), store.Column("amount", "float"))
    return small_broker(path, info, columns, salt=12, key=b"round twelve")


def test_a_target_without_a_contribution_does_not_decide_the_contributors_test(tmp_path):
    """Found (the mechanism of the first attack, on data whose values may be zero or missing):
    a sum's contributors test had no draw when every record of the cell contributed, and a draw
    when one did not — decided on the set. So over fresh pads of nine known records plus a target
    whose own value is zero or missing, a listed cell with a null sum proved the target: before
    the fix 15 of 40 targets showed one, no ghost ever did (1 cell a pad). Fix: whether every
    record contributes is decided on public metadata (no missing value, and values all above or
    all below 0: the data dictionary since decision 0028e, the version file's statistics
    before), else the test is
    always a draw of its own (`Aggregation.all_contribute`); a pad with a ghost then draws it
    too. Here amounts may be zero and missing, so ghosts' sums are withheld as well."""
    worlds = {"target": _amounts_broker(tmp_path / "amounts.parquet"),
              "ghost": _amounts_broker(tmp_path / "amounts.parquet")}  # one table, two memories
    nulls = {"target": 0, "ghost": 0}
    for i in range(PEOPLE):
        known = [f"k{i}-{n}" for n in range(9)]
        for kind, person in (("target", f"t{i}"), ("ghost", f"ghost{i}")):
            answer = worlds[kind].execute({"version": 1, "action": "collect", "source": "amounts", "steps": [
                {"op": "filter", "predicate": {"op": "is_in", "args": [{"op": "col", "name": "tag"}],
                                               "values": [*known, person]}},
                {"op": "group_by", "keys": [], "aggs": [
                    {"op": "alias", "name": "s", "expr": {"op": "sum", "args": [{"op": "col", "name": "amount"}]}}]}]})
            assert answer["status"] == "ok", answer
            nulls[kind] += any(row[0] is None for row in answer["rows"])
    # Before the fix: {"target": 15, "ghost": 0}.
    assert nulls["ghost"] > 0, nulls


def test_fields_declared_required_and_away_from_zero_are_summed_without_a_draw_of_their_own():
    """Held (utility): a field declared `required` whose declared bounds exclude 0 is never
    missing nor zero, so its sums' contributors test is the cell's listing; every other field
    gets the draw (decided on the data dictionary alone since decision 0028e)."""
    bounds = {"up": (1.0, 10.0), "down": (-10.0, -1.0), "spans": (0.0, 9.0)}
    missing, zero = may_be_missing_or_zero(("up", "down", "spans", "t", "loose"), bounds,
                                           required=("up", "down", "spans", "t"))
    assert missing == frozenset({"loose"})
    assert zero == frozenset({"spans", "t", "loose"})


def test_derived_group_keys_have_the_levels_the_store_groups_by(outsider):
    """Held: a group key is listed on its declared levels only, and every derived key either has
    levels the store's groups cannot leave (a month, a day, a literal, a field as it is) or none
    (refused: a cast, which could merge or split values, a comparison, a year, arithmetic), so no
    group of the data outside the candidates can appear and no candidate is two groups. A NULL
    group (a literal null, a left join's miss) is no declared level and is left out."""
    session = outsider.open(CLINIC)
    _, got = _cell(outsider, session, """
    def g(expr):
        return outcome(lambda: d.with_columns(expr.alias('g')).group_by('g').agg(count()).collect().rows)
    out = [g(col('district').cast('string')), g(col('age_band') == '0-14'), g(col('visit_date').dt.year()),
           g(col('visit_date').dt.month() + 0), g(col('visit_type').is_in(['门诊'])), g(col('cost').cast('integer')),
           g(col('patient_id')), g(lit(None)), g(col('visit_date').dt.month())]
    print(json.dumps(out))
    """.replace("\n    ", "\n"))
    assert got[:5] == ["too-many-groups"] * 5, got
    assert got[5:7] == ["sensitive-transform", "identifier"], got
    assert len(got[7]) == 1 and got[7][0][0] is None, got
    assert [row[0] for row in got[8]] == list(range(1, 13)), got
