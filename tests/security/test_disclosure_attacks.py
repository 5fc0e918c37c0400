"""Attacks on the disclosure control of conditional data, run as an analyst would run them.

Each test plays one classic attack through `kaifang sandbox-run` (the `sandbox_run` fixture:
the real pool, broker, policy, store and output rules) against the bundled synthetic clinic
visits, works out the true answer with DuckDB on the raw file, and asserts what the attacker
actually learns from the released values — not merely that something was refused. Every test
runs as its own analyst, so each has its own grant and its own daily budget of released cells.
"""

from __future__ import annotations

import json

from portal.access.service import grant_access
from portal.auth import SYSTEM
from portal.db import session_scope

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]

CLINIC = "clinic-visits-synthetic"
OPEN = "china-smoking-lung-cancer"
QUASI = ("district", "age_band", "sex", "department", "visit_type")


def target_filter(row: dict) -> str:
    """Analyst code for a predicate that singles out the records matching `row`'s values."""
    terms = [f"(col({name!r}) == {value!r})" for name, value in row.items() if name not in ("m", "d")]
    if "m" in row:
        terms += [f"(col('visit_date').dt.month() == {row['m']})", f"(col('visit_date').dt.day() == {row['d']})"]
    return " & ".join(terms)


def unique_visits(raw, n: int, where: str = "true") -> list[dict]:
    """`n` visits that are alone in their quasi-identifier combination (and `where`)."""
    keys = ", ".join(QUASI)
    rows = raw.execute(f"""SELECT {keys}, month(visit_date) AS m, day(visit_date) AS d, any_value(cost)
        FROM v GROUP BY ALL HAVING count(*) = 1 AND bool_and({where}) ORDER BY ALL LIMIT {n}""").fetchall()
    return [dict(zip((*QUASI, "m", "d", "cost"), r, strict=True)) for r in rows]


def test_a_singled_out_record_gives_no_mean_sum_or_count(attack, raw):
    target = unique_visits(raw, 1)[0]
    cost = target.pop("cost")
    result, learnt = attack(f"""
        import json
        one = dataset("clinic-visits-synthetic").filter({target_filter(target)})
        whole = one.agg(count(), mean("cost"), sum("cost")).collect()
        grouped = one.group_by("sex").agg(count(), mean("cost")).collect()
        print(json.dumps([whole.rows, grouped.rows, outcome(one.count), collected(lambda: one.agg(std("cost")))]))
    """)
    assert result["status"] == "ok", result
    # Nothing listed, a null count (exactly what an empty set gives, not a refusal only small sets
    # get), and the standard deviation refused by the plan alone.
    assert learnt == [[], [], None, "sensitive-statistic"]
    assert str(cost) not in json.dumps(result)  # the visit's cost appears nowhere in the report
    assert any("looks like an empty one" in note["text"] for item in result["released"] for note in item["notes"])


def test_differencing_two_counts_does_not_reveal_the_one_record(attack, raw):
    """count(all) - count(all & ~target), for targets inside `all`: the true difference is 1."""
    targets = unique_visits(raw, 60, where="visit_type = '住院'")
    for t in targets:
        t.pop("cost")
    result, learnt = attack(f"""
        import json
        inpatients = dataset("clinic-visits-synthetic").filter(col("visit_type") == "住院")
        base = inpatients.count()
        print(json.dumps([base - n for n in [{", ".join(f"inpatients.filter(~({target_filter(t)})).count()" for t in targets)}]]))
    """)
    assert result["status"] == "ok", result
    differences = learnt
    assert len(differences) == 60
    # Differencing control: a set one record smaller is answered like the set itself, so every
    # difference is 0, exactly as if the target were not there.
    assert set(differences) == {0}


def _possible(count: int, base: int = 5) -> dict[int, float]:
    """The released values of a true count under the documented noise table and rounding."""
    table = dict(zip(range(-2, 3), (0.1, 0.2, 0.4, 0.2, 0.1), strict=True))
    out: dict[int, float] = {}
    for offset, p in table.items():
        value = max(10, int(base * round((count + offset) / base)))
        out[value] = out.get(value, 0.0) + p
    return out


def _decode(draws: list[int]) -> int:
    """The attacker's maximum-likelihood true count from many released draws of one cell."""
    def likelihood(n: int) -> float:
        dist, score = _possible(n), 1.0
        for value in draws:
            score *= dist.get(value, 0.0)
        return score
    return max(range(min(draws) - 5, max(draws) + 5), key=likelihood)


def test_one_cell_asked_many_times_in_one_query_keeps_its_count_secret(attack, raw):
    """Once a finding: noise drawn per output position gave 30 independent draws of one cell in
    one query, and the exact count was decoded. Now one statistic is one draw however often and
    under whatever alias it is asked, and a query holds at most 10 statistics."""
    aliases = ", ".join(f"count().alias('n{i}')" for i in range(8))
    eleven = ", ".join(f"count().alias('m{i}')" for i in range(11))
    result, learnt = attack(f"""
        import json
        t = dataset("clinic-visits-synthetic").group_by("district").agg({aliases}, mean("cost").alias("a"), mean("cost").alias("b")).collect()
        rule = collected(lambda: dataset("clinic-visits-synthetic").group_by("district").agg({eleven}))
        print(json.dumps([[list(r) for r in t.rows], rule]))
    """)
    assert result["status"] == "ok", result
    rows, rule = learnt
    assert rule == "too-many-statistics"
    truth = dict(raw.execute("SELECT district, count(*) FROM v GROUP BY 1").fetchall())
    for row in rows:
        assert len(set(row[1:9])) == 1 and row[9] == row[10], "repeats of a statistic are one draw"
    decoded = {row[0]: _decode(row[1:9]) for row in rows}
    assert decoded.keys() == truth.keys()


def test_differencing_does_not_reveal_a_target_s_diagnosis(attack, raw):
    targets = unique_visits(raw, 8, where="visit_type = '门诊'")
    for t in targets:
        t.pop("cost")  # an exact cost would be refused outright (sensitive-filter); dates single them out
    diagnoses = [raw.execute(f"SELECT diagnosis_group FROM v WHERE {_sql(t)}").fetchall()[0][0] for t in targets]
    wrong = "精神和行为障碍"
    hypotheses = [(t, d if i % 2 == 0 else (wrong if d != wrong else "肿瘤")) for i, (t, d) in enumerate(zip(targets, diagnoses, strict=True))]
    lines = []
    for t, guess in hypotheses:
        pads = [m for m in range(1, 13) if m != t["m"]][:8]
        pairs = ", ".join(f"(d.filter((col('diagnosis_group') == {guess!r}) & (col('visit_date').dt.month() != {m})).count(), "
                          f"d.filter((col('diagnosis_group') == {guess!r}) & (col('visit_date').dt.month() != {m}) & ~({target_filter(t)})).count())"
                          for m in pads)
        lines.append(f"answers.append([{pairs}])")
    body = "\n        ".join(lines)
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        answers = []
        {body}
        print(json.dumps(answers))
    """)
    assert result["status"] == "ok", result
    guessed_in = [any(a != b for a, b in pairs) for pairs in learnt]
    really_in = [guess == real for (_, guess), real in zip(hypotheses, diagnoses, strict=True)]
    right = sum(g == r for g, r in zip(guessed_in, really_in, strict=True))
    assert right <= 6, f"the attacker told {right} of 8 diagnoses right"


def _sql(target: dict) -> str:
    terms = [f"{k} = '{v}'" for k, v in target.items() if k in QUASI]
    return " AND ".join(terms + [f"month(visit_date) = {target['m']}", f"day(visit_date) = {target['d']}"])


def test_total_minus_cells_does_not_recover_a_suppressed_group(attack, raw):
    found = raw.execute("""SELECT district, sum(n) FILTER (n < 10), count(*) FILTER (n < 10) FROM (
        SELECT district, diagnosis_group, count(*) AS n FROM v WHERE visit_type = '急诊' GROUP BY ALL)
        GROUP BY 1 HAVING count(*) FILTER (n < 10) > 0 ORDER BY 1""").fetchall()
    districts = [d for d, _, _ in found]
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic").filter(col("visit_type") == "急诊")
        out = {{}}
        for name in {districts!r}:
            part = d.filter(col("district") == name)
            cells = part.group_by("diagnosis_group").agg(count()).collect()
            out[name] = [part.count(), sum([n for _, n in cells.rows]), [k for k, _ in cells.rows]]
        print(json.dumps(out))
    """)
    assert result["status"] == "ok", result
    small = {d: (int(size), groups) for d, size, groups in found}
    sizes = dict(((d, g), n) for d, g, n in raw.execute(
        "SELECT district, diagnosis_group, count(*) FROM v WHERE visit_type = '急诊' GROUP BY ALL").fetchall())
    errors = []
    for district, (total, released_sum, keys) in learnt.items():
        # listing is decided on a perturbed count: a cell just under 10 is sometimes listed, a
        # really small one practically never
        assert all(sizes[(district, k)] >= 6 for k in keys)
        errors.append(total - released_sum - small[district][0])
    assert len(errors) >= 8
    assert sum(e == 0 for e in errors) <= len(errors) // 3  # the estimate is rarely exact...
    assert max(abs(e) for e in errors) >= 10  # ...and sometimes far off


def test_a_tracker_does_not_reconstruct_one_visit_s_cost(attack, raw):
    """sum(cost | T) - sum(cost | T & ~C) with padding T = the target's district and sex."""
    targets = unique_visits(raw, 10, where="visit_type = '门诊'")
    costs = [t.pop("cost") for t in targets]
    pairs = ", ".join(
        f"[d.filter((col('district') == {t['district']!r}) & (col('sex') == {t['sex']!r})).agg(sum('cost'), mean('cost')).collect().rows, "
        f"d.filter((col('district') == {t['district']!r}) & (col('sex') == {t['sex']!r}) & ~({target_filter(t)})).agg(sum('cost'), mean('cost')).collect().rows]"
        for t in targets)
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps([{pairs}]))
    """)
    assert result["status"] == "ok", result
    for (padded, without), cost in zip(learnt, costs, strict=True):
        (sum_t, mean_t), = padded
        (sum_rest, mean_rest), = without
        assert sum_t == sum_rest and mean_t == mean_rest  # one record less is answered alike: the difference says nothing
        assert sum_t % 10_000 == 0 and sum_rest % 10_000 == 0  # 3 significant figures of millions


def test_repeats_and_rewrites_of_a_query_give_one_answer(attack):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        agg = lambda t: t.group_by("visit_type").agg(count(), mean("cost")).sort("visit_type").collect().rows
        old = col("age_band").is_in(["65-74", "75+"])
        repeats = [agg(d.filter(old)) for _ in range(50)]
        rewrites = [
            agg(d.filter((col("age_band") == "65-74") | (col("age_band") == "75+"))),
            agg(d.filter(~col("age_band").is_in(["0-14", "15-24", "25-34", "35-44", "45-54", "55-64"]))),
            agg(d.filter((col("age_band") >= "65-74") & (col("age_band") != "0-14"))),
            agg(d.filter(old & (col("sex") != "x")).filter(col("cost") >= 0)),
            agg(d.filter(col("cost") >= 0).filter(col("sex") != "x").filter(old)),
        ]
        print(json.dumps([repeats, rewrites]))
    """)
    assert result["status"] == "ok", result
    repeats, rewrites = learnt
    assert len(repeats) == 50 and all(r == repeats[0] for r in repeats)
    assert len(repeats[0]) == 3 and all(r == repeats[0] for r in rewrites)


def test_order_statistics_of_a_sensitive_field_are_refused(attack):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        tries = [lambda: d.agg(min("cost")), lambda: d.agg(max("cost")), lambda: d.agg(median("cost")),
                 lambda: d.agg(quantile("cost", 0.99)), lambda: d.agg(count_distinct("cost")),
                 lambda: d.with_columns(col("cost").alias("c")).agg(max("c")),
                 lambda: d.group_by("district").agg(max(col("cost") * 1)),
                 lambda: d.agg(col("cost").max()), lambda: d.group_by("cost").agg(count())]
        print(json.dumps([collected(attempt) for attempt in tries]))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["sensitive-statistic"] * 8 + ["sensitive-group"]


def test_identifiers_are_refused_however_they_are_used(attack):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        tries = [lambda: d.group_by("patient_id").agg(count()),
                 lambda: d.filter(col("visit_id") == "V20230000001").agg(count()),
                 lambda: d.join(d, on="patient_id").group_by("district").agg(count()),
                 lambda: d.with_columns(col("patient_id").alias("p")).group_by("p").agg(count()),
                 lambda: d.select(col("visit_id").alias("v"), "district").group_by("district").agg(count()),
                 lambda: d.agg(count_distinct("patient_id")),
                 lambda: d.filter(col("patient_id").is_not_null()).agg(count()),
                 lambda: d.sort("visit_id").group_by("district").agg(count())]
        print(json.dumps([collected(attempt) for attempt in tries]))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["identifier"] * 8


def test_many_tiny_groups_release_a_group_under_ten_only_by_the_noise(attack, raw):
    """A group under ten is listed only by the threshold noise (a rounded normal draw, decision
    0026a): a group of a few records needs a draw far in its tail, a listed one shows at least
    ten, and most small groups are withheld."""
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        wide = outcome(lambda: [d.group_by("district", "age_band", "sex", "diagnosis_group").agg(count()).collect(), "released"][1])
        narrow = (d.filter((col("district") == "红桥区") & (col("age_band") == "25-34"))
                   .group_by("sex", "diagnosis_group").agg(count(), mean("cost")).collect())
        print(json.dumps([wide, [list(r) for r in narrow.rows]]))
    """)
    assert result["status"] == "ok", result
    wide, narrow = learnt
    assert wide == "too-many-groups"
    sizes = dict(((s, g), n) for s, g, n in raw.execute("""SELECT sex, diagnosis_group, count(*) FROM v
        WHERE district = '红桥区' AND age_band = '25-34' GROUP BY ALL""").fetchall())
    small = [k for k, n in sizes.items() if n < 10]
    assert len(small) >= 5  # the attack does hit tiny groups
    released = {(s, g): n for s, g, n, _ in narrow}
    listed_small = [k for k in released if sizes[k] < 10]
    assert released and all(n >= 10 for n in released.values()), released
    assert all(sizes[k] >= 5 for k in listed_small), [(k, sizes[k]) for k in listed_small]
    assert len(listed_small) <= len(small) // 2, [(k, sizes[k]) for k in listed_small]


def test_a_dominant_cost_counts_as_the_sum_bound_and_is_not_flagged_by_a_null(attack, raw):
    """A cell whose total is mostly one visit's cost (two million yuan) is released, not withheld
    (a null would itself tell that one record dominates), and the sum is of costs clamped to the
    published sum bound (50,000), with noise scaled to that bound (decision 0026c): whether the top
    visit cost 60,000 or two million, the released sum would be the same draw."""
    district, visit_type, department, top, total, clamped, n = raw.execute("""
        SELECT district, visit_type, department, max(cost), sum(cost), sum(least(cost, 50000)), count(*)
        FROM v GROUP BY ALL HAVING count(*) >= 10 AND max(cost) > 0.5 * sum(cost)
        ORDER BY max(cost) DESC LIMIT 1""").fetchall()[0]
    assert top > 1_900_000
    result, learnt = attack(f"""
        import json
        t = (dataset("clinic-visits-synthetic")
             .filter((col("district") == {district!r}) & (col("visit_type") == {visit_type!r}))
             .group_by("department").agg(count(), mean("cost"), sum("cost")).collect())
        print(json.dumps([list(r) for r in t.rows]))
    """)
    assert result["status"] == "ok", result
    cells = {row[0]: row[1:] for row in learnt}
    count_, mean_, sum_ = cells[department]
    assert count_ >= 10 and mean_ is not None and sum_ is not None
    # Laplace noise of scale 2 x 50,000: ten scales is a draw of e^-10
    assert abs(sum_ - clamped) <= 10 * 100_000 < total - clamped, (sum_, clamped, total)
    assert any(n["code"] == "magnitude-noise" and n["params"]["factor"] == "2"
               for item in result["released"] for n in item["notes"])


def test_a_query_flood_stops_at_the_cap(attack):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic").filter(col("sex") == "男")
        answered, rule = 0, None
        for i in range(205):
            try:
                d.count()
                answered += 1
            except QueryRefused as refusal:
                rule = refusal.rule
                break
        print(json.dumps([answered, rule]))
    """)
    assert learnt == [200, "query-cap"]


def test_the_daily_cell_budget_is_enforced_across_runs(analysis_app, attack, attacker):
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        grant_access(session, SYSTEM, email=attacker, slug=CLINIC, days=1, purpose="budget attack",
                     daily_cell_budget=40, disclosure_mode="sdc")
    code = """
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps([outcome(attempt) for attempt in (
            lambda: len(d.group_by("district").agg(count()).collect().rows),
            lambda: len(d.group_by("district").agg(count()).collect().rows),
            lambda: d.count() and "count")]))
    """
    first, learnt = attack(code)
    assert first["status"] == "ok", first
    # a released cell is a key or a value: 16 rows x 2 = 32, then 32 > 8 left; a count (1) fits
    assert learnt == [16, "budget", "count"]
    _, again = attack(code)
    assert again == ["budget", "budget", "count"]  # the ledger carries over: 40 - 33 = 7 left



def test_no_row_leaves_through_the_back_door(attack):
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        smoking = dataset("china-smoking-lung-cancer").with_columns(lit("河东区").alias("district"))
        tries = [lambda: show(d), lambda: d.head(), lambda: d.limit(1).collect(),
                 lambda: d.filter(col("cost") > 2_000_000).count(),
                 lambda: d.select("cost").collect(), lambda: d.sort("cost", descending=True).head(1),
                 lambda: smoking.join(d, on="district").select("city", "cost").collect(),
                 lambda: d.join(smoking, on="district").collect(),
                 lambda: d.group_by("district").agg(count()).filter(col("count") < 20).collect(),
                 lambda: d.group_by("district").agg(count()).count()]
        out = [outcome(lambda: repr(attempt())) for attempt in tries]
        out.append(d.schema)
        print(json.dumps(out, ensure_ascii=False))
    """, CLINIC, OPEN)
    assert result["status"] == "ok", result
    *rules, schema = learnt
    assert rules == ["rows-not-released"] * 3 + ["None"] + ["rows-not-released"] * 4 + ["after-aggregate"] * 2
    assert list(schema) == ["visit_id", "patient_id", "visit_date", "district", "age_band", "sex",
                            "diagnosis_group", "department", "visit_type", "cost", "insurance_type"]
    assert schema["cost"] == "float" and schema["district"] == "text"  # names and types, no values
    assert not [o for o in result["outputs"] if o["kind"] == "table"]
    assert "V2023" not in json.dumps(result) and "2225531" not in json.dumps(result)

