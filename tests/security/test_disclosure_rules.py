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


def test_an_indicator_of_a_sensitive_value_is_a_count_in_disguise(attack, raw):
    """mean(cost > T) over a group is (number of expensive visits) / n, and sum(cost > T) is their
    number, released with a sum's small relative noise instead of a count's rounding. A test of
    a sensitive value is allowed only as a round-number comparison, and turning it into a number
    (cast, floor, modulo) is refused: counts of sensitive conditions go through count()."""
    threshold = raw.execute("SELECT quantile_disc(cost, 0.9995) FROM v").fetchall()[0][0]
    result, learnt = attack(f"""
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps([outcome(lambda: d.with_columns(e.alias("hi")).group_by("district").agg(mean("hi")).collect())
                          for e in ((col("cost") > {threshold}).cast("int"), (col("cost") > 1000000).cast("int"),
                                    col("cost") // 1000000, col("cost") % 1000, col("cost").cast("int"))]))
    """)
    assert result["status"] == "ok", result
    assert learnt == ["sensitive-filter"] + ["sensitive-transform"] * 4


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
