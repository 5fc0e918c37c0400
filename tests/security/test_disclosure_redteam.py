"""Third-round attacks on the disclosure control of conditional data, as an outside developer
with an ordinary grant would play them through `kaifang sandbox-run`.

Each test plays one attack that is not in the other disclosure suites and asserts that it
*fails*: the attacker learns nothing about a record beyond the noise. The truth is read with
DuckDB from the raw file (the `raw` fixture) only to judge what the attacker learnt.
"""

from __future__ import annotations

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
