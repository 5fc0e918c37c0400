"""Aggregates, checked against the same query in plain DuckDB SQL and in sqlite3."""

from __future__ import annotations

import math
import random
import sqlite3
import statistics

import duckdb
import pytest

from portal.store import AggregateQuery, Filter, Measure, QueryError, Sort, aggregate

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区"]


@pytest.fixture(scope="module")
def trips(tmp_path_factory):
    """1,000 trips with NULL fares and districts; the rows as Python tuples too."""
    rng = random.Random(7)
    rows = []
    for i in range(1000):
        district = None if i % 97 == 0 else rng.choice(DISTRICTS)
        fare = None if i % 13 == 0 else round(rng.uniform(8, 200), 2)
        rows.append((i, district, rng.randrange(24), fare, rng.randrange(1, 5)))
    folder = tmp_path_factory.mktemp("trips")
    source = folder / "trips.csv"
    with open(source, "w", encoding="utf-8") as handle:
        handle.write("id,district,hour,fare,passengers\n")
        for row in rows:
            handle.write(",".join("" if v is None else str(v) for v in row) + "\n")
    from portal.store import StoredTable, ingest

    result = ingest(source, folder / "store", overrides={"fare": "float"})
    return StoredTable(result.path, result.columns), rows


@pytest.fixture(scope="module")
def lite(trips):
    _, rows = trips
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (id, district, hour, fare, passengers)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    return con


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _same(rows_a, rows_b) -> bool:
    return len(rows_a) == len(rows_b) and all(
        all(_close(x, y) if not isinstance(x, str) else x == y for x, y in zip(ra, rb, strict=True))
        for ra, rb in zip(rows_a, rows_b, strict=True)
    )


def test_group_by_two_keys_matches_sqlite(trips, lite):
    table, _ = trips
    result = aggregate(table, AggregateQuery(
        group_by=("district", "hour"),
        measures=(Measure("count"), Measure("sum", "fare"), Measure("mean", "fare"),
                  Measure("min", "fare"), Measure("max", "fare"),
                  Measure("count_distinct", "passengers")),
    ))
    assert result.columns == ("district", "hour", "count", "sum_fare", "mean_fare", "min_fare",
                              "max_fare", "count_distinct_passengers")
    expected = lite.execute(
        "SELECT district, hour, count(*), coalesce(sum(fare), 0), avg(fare), min(fare), max(fare), "  # a sum of no values is 0 (docs/store.md)
        "count(DISTINCT passengers) FROM t GROUP BY 1, 2 "
        "ORDER BY district IS NULL, district, hour"
    ).fetchall()
    assert _same(result.rows, expected)
    contributors = lite.execute(
        "SELECT count(*), count(fare), count(passengers) FROM t GROUP BY district, hour "
        "ORDER BY district IS NULL, district, hour"
    ).fetchall()
    assert result.contributors == [(c, f, f, f, f, p) for c, f, p in contributors]


def test_statistics_match_duckdb_sql_and_python(trips):
    table, rows = trips
    result = aggregate(table, AggregateQuery(
        group_by=("district",),
        measures=(Measure("median", "fare"), Measure("quantile", "fare", q=0.9, alias="p90"),
                  Measure("std", "fare")),
        filters=(Filter("district", "is_null", False),),
    ))
    path = str(table.path)
    expected = duckdb.execute(
        "SELECT district, median(fare), quantile_cont(fare, 0.9), stddev_samp(fare) "
        "FROM read_parquet(?) WHERE district IS NOT NULL GROUP BY 1 ORDER BY 1", [path]
    ).fetchall()
    assert _same(result.rows, expected)
    for row in result.rows:
        fares = [r[3] for r in rows if r[1] == row[0] and r[3] is not None]
        assert _close(row[1], statistics.median(fares))
        assert _close(row[2], statistics.quantiles(fares, n=10, method="inclusive")[-1])
        assert _close(row[3], statistics.stdev(fares))


def test_no_grouping_and_filters_before_grouping(trips, lite):
    table, _ = trips
    result = aggregate(table, AggregateQuery(
        measures=(Measure("count"), Measure("sum", "passengers")),
        filters=(Filter("hour", "between", [7, 9]), Filter("fare", "gt", 50)),
    ))
    expected = lite.execute(
        "SELECT count(*), sum(passengers) FROM t WHERE hour BETWEEN 7 AND 9 AND fare > 50"
    ).fetchall()
    assert result.rows == expected
    assert result.contributors == [(expected[0][0], expected[0][0])]


def test_sort_and_limit_on_output_columns(trips, lite):
    table, _ = trips
    result = aggregate(table, AggregateQuery(
        group_by=("hour",), measures=(Measure("count", alias="n"),),
        sort=(Sort("n", descending=True), Sort("hour")), limit=3,
    ))
    expected = lite.execute(
        "SELECT hour, count(*) AS n FROM t GROUP BY hour ORDER BY n DESC, hour LIMIT 3"
    ).fetchall()
    assert result.rows == expected


def test_count_of_a_column_counts_non_nulls(trips, lite):
    table, _ = trips
    result = aggregate(table, AggregateQuery(measures=(Measure("count", "fare"),)))
    assert result.rows == lite.execute("SELECT count(fare) FROM t").fetchall()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        (AggregateQuery(group_by=("nope",)), "unknown-column"),
        (AggregateQuery(measures=(Measure("sum", "nope"),)), "unknown-column"),
        (AggregateQuery(measures=(Measure("variance", "fare"),)), "unknown-function"),
        (AggregateQuery(measures=(Measure("sum"),)), "invalid-measure"),
        (AggregateQuery(measures=(Measure("sum", "district"),)), "invalid-measure"),
        (AggregateQuery(measures=()), "invalid-measure"),
        (AggregateQuery(measures=(Measure("quantile", "fare", q=1.5),)), "invalid-quantile"),
        (AggregateQuery(measures=(Measure("quantile", "fare"),)), "invalid-quantile"),
        (AggregateQuery(measures=(Measure("count"), Measure("count"))), "duplicate-column"),
        (AggregateQuery(sort=(Sort("fare"),)), "unknown-column"),
        (AggregateQuery(limit=0), "invalid-limit"),
        (AggregateQuery(filters=(Filter("hour", "eq", "x"),)), "invalid-value"),
    ],
)
def test_bad_aggregates(trips, query, code):
    table, _ = trips
    with pytest.raises(QueryError) as caught:
        aggregate(table, query)
    assert caught.value.code == code


def test_bin_counts_are_half_open_but_the_last_bin_in_one_scan(trips):
    """`bin_counts` (the synthetic sample's histograms, decision 0029i): [a, b) per bin, the last
    closed, missing values in none; the same as counting in Python."""
    from portal.store import bin_counts

    table, rows = trips
    edges = [0, 8, 50.5, 100, 200]
    fares = [r[3] for r in rows if r[3] is not None]
    expected = [sum(edges[i] <= f < edges[i + 1] or (i == 3 and f == 200) for f in fares) for i in range(4)]
    assert bin_counts(table, "hour", [0, 12, 23]) == [sum(r[2] < 12 for r in rows), sum(r[2] >= 12 for r in rows)]
    assert bin_counts(table, "fare", edges) == expected
    assert sum(expected) == len(fares)
    assert bin_counts(table, "fare", [5]) == []
    with pytest.raises(QueryError):
        bin_counts(table, "nope", edges)
