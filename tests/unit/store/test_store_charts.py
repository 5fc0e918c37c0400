"""Chart series and map points of the store on a small table: the cap and its "others", NULL
categories, filters, time buckets, bins, samples, grid cells (issue 13, items 1-2)."""

from __future__ import annotations

import pytest

from portal.store import Filter, QueryError, charts, points


def test_categories_cap_and_group_the_rest_by_the_same_aggregate(people):
    top = charts.categories(people, "district", agg="count", y=None, limit=2)
    assert top.groups == 4  # 东城区, 西城区, 朝阳区 and the empty district
    assert top.points == [("东城区", 3), ("朝阳区", 2)]  # ties broken by the category, NULL last
    assert top.others == (3, 3) and top.rows == 8 and not top.single
    # means: 西城区 51, the empty district 45, 东城区 30, 朝阳区 28; the others' mean is over their rows
    mean = charts.categories(people, "district", agg="mean", y="age", limit=1)
    assert mean.points == [("西城区", 51.0)]
    assert mean.others == (pytest.approx((34 + 28 + 45 + 28 + 28) / 5), 6)


def test_categories_apply_filters_and_refuse_text_measures(people):
    found = charts.categories(people, "district", agg="count", y=None, limit=10,
                              filters=(Filter("active", "eq", "true"),))
    assert sum(n for _, n in found.points) == 4
    with pytest.raises(QueryError) as error:
        charts.categories(people, "district", agg="sum", y="name", limit=10)
    assert error.value.code == "invalid-measure"
    with pytest.raises(QueryError) as error:
        charts.categories(people, "district", agg="mean", y=None, limit=10)
    assert error.value.code == "missing-measure"


def test_one_row_per_key_is_single(people):
    assert charts.categories(people, "name", agg="sum", y="age", limit=3).single


def test_timeline_buckets_to_fit_and_counts_aim_at_several_per_bucket(people):
    exact = charts.timeline(people, "joined", agg="mean", y="score", limit=10, year_column=False)
    assert exact.unit is None and exact.groups == 5 and exact.rows == 7
    coarse = charts.timeline(people, "joined", agg="mean", y="score", limit=3, year_column=False)
    assert coarse.unit in ("year", "decade") and len(coarse.points) <= 3
    counted = charts.timeline(people, "joined", agg="count", y=None, limit=100, year_column=False)
    assert counted.unit is not None and sum(n for _, n in counted.points) == 7
    with pytest.raises(QueryError):
        charts.timeline(people, "name", agg="count", y=None, limit=10, year_column=False)


def test_bins_are_round_and_cover_every_value(people):
    found = charts.bins(people, "score", agg="count", y=None, limit=5)
    assert found.step in (10.0, 20.0) and sum(p[2] for p in found.points) == 7
    assert all(p[1] - p[0] == found.step for p in found.points)


@pytest.mark.parametrize(("low", "high", "limit", "step"), [(0, 100, 11, 10), (-43, 1301, 40, 50), (0, 1, 10, 0.2),
                                                            (5, 5, 10, 1)])
def test_nice_step(low, high, limit, step):
    assert charts.nice_step(low, high, limit) == pytest.approx(step)


def test_scatter_samples_reproducibly(people):
    first = charts.scatter(people, "age", "score", limit=3)
    assert first.rows == 5 and len(first.points) == 3
    assert charts.scatter(people, "age", "score", limit=3).points == first.points


def test_profile_counts_distinct_values_and_ranges(people):
    found = charts.profile(people)
    assert found.rows == 8 and found.distinct["district"] == 3 and found.low["age"] == 28 and found.high["age"] == 51


def test_points_and_cells(make_table):
    table = make_table("name,lon,lat\n" + "".join(f"p{i},{100 + i / 10},{30 + i / 20}\n" for i in range(40))
                       + "bad,999,0\n", name="places.csv")
    everything = points.points(table, "lon", "lat", bbox=None, limit=100)
    assert everything.total == 40 and everything.points[0][2] == ("p0",) and not everything.cells
    binned = points.points(table, "lon", "lat", bbox=None, limit=10)
    assert not binned.points and sum(c[2] for c in binned.cells) == 40
    inside = points.points(table, "lon", "lat", bbox=(100, 30, 101, 31), limit=100)
    assert inside.total == 11 and everything.bounds == (100.0, 30.0, 103.9, 31.95)


@pytest.mark.parametrize("raw", ["1,2,3", "a,b,c,d", "10,0,5,1", "0,10,1,5", "nan,0,1,1"])
def test_bbox_must_be_four_ordered_numbers(raw):
    with pytest.raises(QueryError):
        points.parse_bbox(raw)
