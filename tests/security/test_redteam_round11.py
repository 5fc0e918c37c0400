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


@pytest.fixture
def two_tables(tmp_path):
    """Ten records, and a lookup of the days 1 ... 10 (keyed 2^60 + day by the plans)."""
    from portal.store import StoredTable, ingest

    records = tmp_path / "records.csv"
    records.write_text("n\n" + "".join(f"{i}\n" for i in range(10)), encoding="utf-8")
    lookup = tmp_path / "lookup.csv"
    lookup.write_text("d\n" + "".join(f"{i}\n" for i in range(1, 11)), encoding="utf-8")
    out = {}
    for slug, source, column in (("records", records, "n"), ("lookup", lookup, "d")):
        result = ingest(source, tmp_path / "store", overrides={column: "integer"})
        out[slug] = StoredTable(result.path, result.columns)
    return out


KEYED = {"op": "add", "args": [{"op": "lit", "value": BIG}, {"op": "col", "name": "d"}]}


@pytest.mark.parametrize("right_key, rule", [
    (KEYED, "bad-type"),  # ten distinct integers against a float: refused by type
    ({"op": "cast", "to": "number", "args": [KEYED]}, None),  # one float key, ten rows
])
def test_join_keys_compare_as_the_fan_out_check_groups_them(two_tables, right_key, rule):
    """Found (the store half of the attack above, in both modes: the ε-budget mode's answers go
    through the same joins, and a record joined ten times would have moved each count by ten,
    ten times the sensitivity its noise is scaled to). The fan-out check groups the lookup by
    its own keys; the join compares them with the left side's. They now agree: keys of two
    types are refused, and once cast to one type the lookup's ten keys are one, which the
    check counts."""
    from portal import store

    right = {"source": "lookup", "steps": [{"op": "select", "columns": [{"op": "alias", "name": "k", "expr": right_key}]}]}
    plan = {"version": 1, "action": "collect", "source": "records", "steps": [
        {"op": "with_columns", "columns": [{"op": "alias", "name": "k", "expr": {"op": "lit", "value": float(BIG)}}]},
        {"op": "join", "right": right, "on": ["k"], "how": "inner"},
        {"op": "group_by", "keys": [], "aggs": [{"op": "count", "args": []}]}]}
    probe = {"version": 1, "action": "collect", "source": "lookup", "steps": [
        *right["steps"], {"op": "group_by", "keys": ["k"], "aggs": [
            {"op": "alias", "name": "rows", "expr": {"op": "count", "args": []}}]}]}
    rows_per_key = max(row[-1] for row in store.run_plan(probe, two_tables, max_rows=100).rows)
    if rule is not None:
        assert rows_per_key == 1  # what the broker's check sees
        with pytest.raises(store.QueryError) as caught:
            store.run_plan(plan, two_tables, max_rows=10)
        assert caught.value.code == rule and not caught.value.while_running
    else:
        assert rows_per_key == 10  # the broker refuses it for its fan-out
        assert store.run_plan(plan, two_tables, max_rows=10).rows == [(100,)]



def test_a_nan_joined_into_the_dp_mode_is_answered_like_nothing(sessions_app, raw):
    """Held: under a grant in the ε-budget mode, `select` drops the visits' own `cost` and a join
    brings in a `cost` that is NaN (`lit('nan').cast('number')`) for every visit the filter finds
    — a target's description, or a ghost's. If the mechanism failed on a NaN, an error for the
    target and an answer for the ghost would be an exact membership test outside the noise. The
    median was answered for both in this round; since the thirteenth (decision 0027f) a name the
    plan did not carry unchanged from the dataset is not the field, so the median is refused
    before running (`dp-bounds`), and the sum too (`unbounded`), for targets and ghosts alike."""
    from portal.access.service import grant_access
    from portal.auth import SYSTEM
    from portal.db import session_scope

    who = Analyst(sessions_app)
    with sessions_app.app_context(), session_scope(sessions_app) as session:
        grant_access(session, SYSTEM, email=who.email, slug=CLINIC, days=1, purpose="attack", disclosure_mode="dp",
                     daily_epsilon=10.0)
    targets = _alone(raw, 2, "visit_type = '住院' AND month(visit_date) = 9")
    persons = ", ".join([_who(t) for t in targets] + [_ghost(t) for t in targets])
    _, got = _cell(who, who.open(CLINIC, FLIGHTS), f"""
        f = dataset({FLIGHTS!r})
        lookup = (f.filter((col('carrier') == 'DL') & (col('flight') == 461) & (col('origin') == 'LGA')
                           & (col('month') == 1) & (col('day') == 1))
                  .select(col('month').alias('j'), lit('nan').cast('number').alias('cost')))
        out = []
        for person in [{persons}]:
            q = d.filter(person).select('sex').with_columns(lit(1).alias('j')).join(lookup, on='j', how='inner')
            out.append([outcome(lambda: q.group_by('sex').agg(median('cost')).collect().rows),
                        outcome(lambda: q.group_by('sex').agg(sum('cost')).collect().rows)])
        print(json.dumps(out))
    """)
    assert got == [["dp-bounds", "unbounded"]] * (2 * len(targets)), got


def test_the_public_metadata_shows_no_text_of_a_skipped_row_of_conditional_data(tmp_path):
    """Noted by this round (decision 0027d): a conditional version's load report listed the
    text of each row the reader skipped as a title or a note, and the catalog is public. In a
    malformed source such a row may be a record (here a line under the table, which the reader
    takes for a note). The catalog's view kept each skipped row's line and kind, not its text;
    since decision 0029e it shows no load report of conditional data at all (the lines were
    facts of the records too: tests/security/test_conditional_version_metadata.py). The
    publisher's own load output keeps it."""
    import gzip
    import shutil
    from pathlib import Path

    from portal.auth import SYSTEM
    from portal.catalog import publishing
    from portal.db import session_scope
    from tests.conftest import DATASETS, make_app

    households = "household-income-survey-synthetic"
    app = make_app(tmp_path / "instance")
    package = tmp_path / "package"
    shutil.copytree(DATASETS / households, package)
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, package, data_dir=Path(app.config["DATA_DIR"]))
    with gzip.open(package / "households.csv.gz", "rt", encoding="utf-8") as rows:
        lines = rows.read().splitlines()
    marker = "注：户主王某某 年收入 987654"  # what a stray record under the table might look like
    grown = tmp_path / "households.csv"
    grown.write_text("\n".join([*lines, marker]) + "\n", encoding="utf-8")
    with app.app_context(), session_scope(app) as session:
        publishing.add_version(session, SYSTEM, households, grown, data_dir=Path(app.config["DATA_DIR"]))
    anyone = app.test_client()
    pages = [anyone.get(path) for path in (f"/api/v1/datasets/{households}/versions", f"/api/v1/datasets/{households}",
                                           f"/api/v1/datasets/{households}/versions/2", f"/datasets/{households}")]
    assert [page.status_code for page in pages] == [200] * len(pages)
    assert pages[0].get_json()[0]["load_report"] is None
    assert not [page.request.path for page in pages if "987654" in page.get_data(as_text=True)]
