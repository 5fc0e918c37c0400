"""The default chart of each dataset shape, from the data dictionary and a profile alone (no data,
no app): time series, one row per key, repeated categories, names over codes, no measure."""

from __future__ import annotations

from portal.catalog.charts import ChartParams, default_chart
from portal.catalog.schemas import FieldInfo
from portal.store.charts import Profile


def field(name: str, type_: str, description: str = "", unit: str | None = None) -> FieldInfo:
    return FieldInfo(name, type_, "", description, unit, False, False)


def profile(rows: int, distinct: dict, ranges: dict | None = None) -> Profile:
    ranges = ranges or {}
    return Profile(rows, distinct, {k: v[0] for k, v in ranges.items()}, {k: v[1] for k, v in ranges.items()})


def test_a_measure_over_time_for_a_time_series():
    fields = [field("date", "date"), field("co2", "float", "CO2 concentration", "ppmv")]
    assert default_chart(fields, profile(2284, {"date": 2284, "co2": 1800})) == ChartParams("date", "co2", "mean", "line")


def test_integer_years_are_times_but_other_integers_are_not():
    fields = [field("year", "integer", "Year"), field("anomaly", "float", "Temperature anomaly", "°C")]
    shape = profile(144, {"year": 144, "anomaly": 120}, {"year": (1880, 2023), "anomaly": (-0.5, 1.2)})
    assert default_chart(fields, shape).x == "year"
    codes = profile(144, {"year": 144, "anomaly": 120}, {"year": (1, 144), "anomaly": (-0.5, 1.2)})
    assert default_chart(fields, codes) == ChartParams("year", None, "count", "bar")  # binned, not a time line


def test_one_row_per_key_plots_the_values():
    fields = [field("state", "text", "State"), field("violent", "float", "Violent crimes", "per 100,000")]
    chosen = default_chart(fields, profile(51, {"state": 51, "violent": 51}))
    assert chosen == ChartParams("state", "violent", "sum", "bar")


def test_names_over_codes_and_counts_without_a_measure():
    fields = [field("code", "text", "9-digit township code"), field("province_code", "text", "2-digit province code"),
              field("province", "text", "Province"), field("name", "text", "Township name")]
    shape = profile(41352, {"code": 41352, "province_code": 31, "province": 31, "name": 30000})
    assert default_chart(fields, shape) == ChartParams("province", None, "count", "bar")


def test_clock_readings_coordinates_and_calendar_parts_are_no_measures():
    fields = [field("month", "integer", "Month"), field("dep_time", "integer", "Actual departure time, local, as HHMM"),
              field("carrier", "text", "Two-letter carrier code"), field("origin", "text", "Origin airport"),
              field("longitude", "float", "Longitude", "degree")]
    shape = profile(1000, {"month": 12, "dep_time": 900, "carrier": 16, "origin": 3, "longitude": 500})
    assert default_chart(fields, shape, coordinates=("longitude",)) == ChartParams("origin", None, "count", "bar")


def test_a_histogram_when_there_is_only_a_measure():
    fields = [field("magnitude", "float", "Magnitude")]
    assert default_chart(fields, profile(100, {"magnitude": 60})) == ChartParams("magnitude", None, "count", "bar")


def test_a_category_given_in_both_languages_is_charted_in_the_pages():
    """China's public holidays name each festival in English and in Chinese: a Chinese page counts
    days by `holiday_zh`, an English one by `holiday_en` (not English bars on a Chinese page)."""
    fields = [field("date", "date"), field("day_type", "text"), field("holiday_en", "text", "Festival (English)"),
              field("holiday_zh", "text", "Festival (Chinese)")]
    shape = profile(771, {"date": 771, "day_type": 2, "holiday_en": 8, "holiday_zh": 8})
    assert default_chart(fields, shape, language="zh").x == "holiday_zh"
    assert default_chart(fields, shape, language="en").x == "holiday_en"
    described = [field("name_local", "text", "Name (Chinese)"), field("name", "text", "Name")]
    assert default_chart(described, profile(50, {"name_local": 9, "name": 9}), language="en").x == "name"
