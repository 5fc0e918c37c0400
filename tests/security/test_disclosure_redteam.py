"""Third-round attacks on the disclosure control of conditional data, as an outside developer
with an ordinary grant would play them through `kaifang sandbox-run`.

Each test plays one attack that is not in the other disclosure suites and asserts that it
*fails*: the attacker learns nothing about a record beyond the noise. The truth is read with
DuckDB from the raw file (the `raw` fixture) only to judge what the attacker learnt.
"""

from __future__ import annotations

import json
import uuid

from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.integration.analysis.test_epsilon_mode import dp_run  # noqa: F401 (a fixture)
from tests.security.test_disclosure_attacks import target_filter, unique_visits

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]


def _late_unique_visits(raw, n: int) -> list[dict]:
    """Visits alone in their quasi-identifiers, from the second half of the year."""
    return [v for v in unique_visits(raw, 400) if v["m"] >= 7][:n]


def test_an_order_statistic_of_a_public_field_over_a_pad_is_no_membership_oracle(attack, raw):
    """max(month) over "a pad of early-year visits, or the target": an exact order statistic of
    a non-sensitive field would be the target's month when (and only when) the target is in the
    data, and with a cost threshold in the filter a bisection of the target's cost."""
    targets = _late_unique_visits(raw, 4)
    probes = []
    for t in targets:
        t.pop("cost")
        real = target_filter(t)
        ghost = target_filter({**t, "d": 31 if t["d"] != 31 else 30, "m": t["m"]}) + " & (col('sex') == 'nobody')"
        probes.append((real, ghost))
    pad = "(col('visit_date').dt.month() <= 2) & (col('district') == '和平区')"
    month = "col('visit_date').dt.month()"
    stats = [f"max({month})", f"median({month})", f"quantile({month}, 1.0)", f"min(-{month})", f"std({month})",
             f"{month}.max()", "max('visit_date')"]
    sets = ", ".join(f"[({pad}) | ({real}), ({pad}) | ({ghost})]" for real, ghost in probes)
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        stats = [{", ".join(f"lambda t: t.agg({s})" for s in stats)}]
        print(json.dumps([[[collected(lambda: f(d.filter(s))) for f in stats] for s in pair] for pair in [{sets}]]))
    """)
    assert result["status"] == "ok", result
    # Before the fix: [[7, 1.5, 7.0, -7]] with the target, [[2, 1.0, 2.0, -2]] without it — the
    # target's month exactly. Now every order statistic of conditional data is refused from the
    # plan alone, the same with the target or without.
    assert learnt == [[["order-statistic"] * len(stats)] * 2] * len(targets)


def test_an_error_reachable_only_through_the_target_tells_nothing(attack, raw):
    """A large, surely listed set, OR the target AND an expression that fails when evaluated (a
    text literal read as a date, a date part of text cast to a date, a cast of a code): if the
    store evaluated the failing part only for rows that reach it, the answer would be a count
    without the target and "all suppressed" (or a refusal) with it."""
    target = _late_unique_visits(raw, 1)[0]
    target.pop("cost")
    real = target_filter(target)
    ghost = real + " & (col('sex') == 'nobody')"
    bad = ["(col('visit_date') == 'not a date')", "(col('district').cast('date').dt.year() == 2024)",
           "(col('visit_type').cast('int') == 1)", "(col('visit_date').cast('int') > 0)",
           "(col('cost').cast('number') / 1 > 100000)", "(col('visit_date') > '2024-13-45')",
           "(col('district').cast('string') == col('visit_date'))"]
    big = "(col('visit_type') == '门诊')"
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps([outcome(lambda: d.filter(s).count()) for s in [{", ".join(
            f"({big}) | (({who}) & {b})" for b in bad for who in (real, ghost))}]]))
    """)
    assert result["status"] == "ok", result
    # Before the fix, a text literal that is not a date was read per row: [None, 100775] — null
    # (all suppressed) with the target, the outpatients' count without. Now it is a plan error.
    assert learnt[0::2] == learnt[1::2]
    assert None not in learnt
    assert learnt[0] == learnt[-2] == "bad-type"


def test_every_shape_of_asking_about_a_small_set_looks_like_an_empty_one(attack, raw):
    """count() vs agg(count()) vs a grouped count sorted by count and cut to one row, the
    schema of the result, and an is_null filter on a sensitive value: for the target alone
    (one record) and for a ghost (no record) every observable outcome must be the same."""
    target = _late_unique_visits(raw, 1)[0]
    target.pop("cost")
    real = target_filter(target)
    ghost = real + " & (col('sex') == 'nobody')"
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        def shapes(t):
            return [outcome(t.count), collected(lambda: t.agg(count())),
                    collected(lambda: t.group_by("sex").agg(count()).sort("count", descending=True).limit(1)),
                    collected(lambda: t.group_by("sex", "visit_type").agg(count(), sum("cost")).sort("sum_cost").limit(3)),
                    outcome(lambda: t.filter(col("cost").is_null()).count()),
                    outcome(lambda: t.filter(col("cost").is_not_null() & (col("cost") >= 1000)).count()),
                    outcome(lambda: [c for c in t.agg(count(), mean("cost")).schema])]
        print(json.dumps([shapes(d.filter({real})), shapes(d.filter({ghost}))]))
    """)
    assert result["status"] == "ok", result
    with_target, without = learnt
    assert with_target == without
    assert with_target[0] is None and with_target[1] == [] and with_target[2] == []


def test_in_the_epsilon_mode_an_error_behind_the_target_is_refused_from_the_plan(dp_run, raw):  # noqa: F811
    """The ε mode documents that a plan failing while running is refused after its ε is spent,
    and that this refusal depends on the data. With text-as-date read at plan time, the probe
    that failed only through the target's row is refused the same way with or without it."""
    target = _late_unique_visits(raw, 1)[0]
    target.pop("cost")
    real = target_filter(target)
    ghost = real + " & (col('sex') == 'nobody')"
    bad = ["(col('visit_date') == 'not a date')", "(col('district').cast('string') == col('visit_date'))"]
    big = "(col('visit_type') == '门诊')"
    result, learnt, _ = dp_run(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        def rule(s):
            try:
                d.filter(s).count()
                return "answered"
            except QueryRefused as refusal:
                return refusal.rule
        print(json.dumps([rule(s) for s in [{", ".join(f"({big}) | (({who}) & {b})" for b in bad for who in (real, ghost))}]]))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["bad-type"] * 4


HOUSEHOLDS = "household-income-survey-synthetic"


def test_two_accounts_cannot_difference_a_household_income_out_of_a_community(sandbox_run, analysis_app):
    """Account A asks the community without the target household, account B the whole
    community: the difference of the two sums would be the target's income. The differencing
    memory is shared by all accounts, so B's set (one record more) is answered like A's."""
    import duckdb

    from tests.conftest import DATASETS

    path = next((DATASETS / HOUSEHOLDS).glob("*.csv*"))
    keys = ("community_code", "household_size", "head_sex", "head_age_band", "head_education", "housing_tenure")
    row = duckdb.sql(f"""SELECT {", ".join(keys)}, any_value(annual_income), any_value(community_total) FROM (
            SELECT *, count(*) OVER (PARTITION BY community_code) AS members,
                   sum(annual_income) OVER (PARTITION BY community_code) AS community_total,
                   count(*) OVER (PARTITION BY {", ".join(keys)}) AS alike
            FROM read_csv('{path}', types={{'community_code': 'VARCHAR'}}))
        WHERE alike = 1 AND members BETWEEN 40 AND 200 GROUP BY ALL ORDER BY ALL LIMIT 1""").fetchall()[0]
    target = dict(zip(keys, row[:-2], strict=True))
    income = row[-2]
    target_pred = " & ".join(f"(col({k!r}) == {v!r})" for k, v in target.items())
    community = f"col('community_code') == {target['community_code']!r}"
    answers = []
    for who, pred in (("a", f"({community}) & ~({target_pred})"), ("b", community)):
        email = f"twin-{who}-{uuid.uuid4().hex[:8]}@example.org"
        with analysis_app.app_context(), session_scope(analysis_app) as session:
            accounts.create_user(session, SYSTEM, email=email, password="twin-password", role="developer")
        result = sandbox_run(f"""
            import json
            t = dataset({HOUSEHOLDS!r}).filter({pred})
            print(json.dumps(t.agg(count(), sum("annual_income"), mean("annual_income")).collect().rows))
        """, HOUSEHOLDS, user=email)
        assert result["status"] == "ok", result
        answers.append(json.loads(result["stdout"].strip().splitlines()[-1]))
    without, whole = answers
    assert without and without == whole  # snapped: the same answer, so a difference of 0
    assert str(income) not in json.dumps(answers)
