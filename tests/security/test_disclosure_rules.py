"""Disclosure attacks through the shape of a query: joins that multiply records, means that are
counts in disguise, threshold searches and order statistics on sensitive fields. The attacks on
noise and differencing are in test_disclosure_attacks.py, whose fixtures (`disclosure_fixtures.py`) these share."""

from __future__ import annotations

import json

from tests.security.disclosure_fixtures import CLINIC

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]


def test_joins_cannot_multiply_conditional_records(attack, analysis_app, tmp_path):
    """A self-join squares a count and a join onto several rows per key multiplies it; either way
    the +-2 noise shrinks relative to the count and the exact count falls out."""
    from tests.factories import load

    folder = tmp_path / "district-notes"
    folder.mkdir()
    (folder / "notes.csv").write_text("district,note\n和平区,a\n和平区,b\n河东区,c\n", encoding="utf-8")
    (folder / "datapackage.json").write_text(json.dumps({
        "name": "district-notes", "title": "District notes",
        "resources": [{"name": "notes", "path": "notes.csv", "format": "csv", "schema": {"fields": [
            {"name": "district", "type": "string"}, {"name": "note", "type": "string"}]}}],
        "kaifang": {"title_zh": "区备注", "theme": "geospatial", "open_class": "open",
                    "department": {"slug": "statistics-bureau", "name_zh": "市统计局", "name_en": "Statistics"}},
    }, ensure_ascii=False), encoding="utf-8")
    load(analysis_app, folder)
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        notes = dataset("district-notes")
        tries = [lambda: d.join(d, on="district").group_by("sex").agg(count()),
                 lambda: d.join(notes, on="district").group_by("sex").agg(count()),
                 lambda: notes.join(d, on="district").group_by("sex").agg(count())]
        print(json.dumps([collected(attempt) for attempt in tries]))
    """, CLINIC, "district-notes")
    assert result["status"] == "ok", result
    assert learnt == ["one-conditional-source", "join-fan-out", "conditional-first"]


def test_a_mean_of_an_indicator_is_a_count_in_disguise(attack, raw):
    """mean(cost > T) over a group is (number of expensive visits) / n: with 3 such visits it would
    release a count of 3. Sums and means need 10 non-zero contributors."""
    threshold = raw.execute("SELECT quantile_disc(cost, 0.9995) FROM v").fetchall()[0][0]
    truth = dict(raw.execute(f"SELECT district, count(*) FILTER (cost > {threshold}) FROM v GROUP BY 1").fetchall())
    assert any(0 < n < 10 for n in truth.values())
    result, learnt = attack(f"""
        import json
        t = (dataset("clinic-visits-synthetic").with_columns((col("cost") > {threshold}).cast("int").alias("hi"))
             .group_by("district").agg(mean("hi"), sum("hi")).collect())
        print(json.dumps([list(r) for r in t.rows]))
    """)
    assert result["status"] == "ok", result
    for district, mean_hi, sum_hi in learnt:
        if truth[district] < 10:
            assert mean_hi is None and sum_hi is None, district


def test_a_threshold_search_cannot_find_a_sensitive_value(attack, raw):
    """Binary search on count(cost > T) would pin down the 10th-largest cost; only round
    thresholds are allowed, and arithmetic on the field cannot shift them."""
    result, learnt = attack("""
        import json
        d = dataset("clinic-visits-synthetic")
        rules = [outcome(attempt) for attempt in (
            lambda: d.filter(col("cost") > 123456.7).count(),
            lambda: d.filter(col("cost") * 1.0001 > 100000).count(),
            lambda: d.filter(col("cost") - 3456 > 100000).count(),
            lambda: d.sort("cost", descending=True).limit(10).agg(mean("cost")).collect())]
        rules.append(d.filter(col("cost") > 100000).count() > 0)
        print(json.dumps(rules))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["sensitive-filter"] * 3 + ["limit-before-aggregate", True]
