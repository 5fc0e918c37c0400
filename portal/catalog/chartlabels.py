"""The words of a chart in the page's language: title, axis titles from the data dictionary, the
note that says what was reduced, and the rows of its CSV. View-side (Flask-Babel): the service
(`charts.py`) returns numbers and dictionary entries only.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from portal.catalog.charts import ChartSeries
from portal.catalog.maps import MapPoints
from portal.catalog.schemas import FieldInfo
from portal.filters import operator_label, unit_label
from portal.serialise import plain

# Vega (d3-time-format) formats of time buckets; None is the raw value.
TIME_FORMATS = {"hour": "%Y-%m-%d %H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m",
                "quarter": "%Y Q%q", "year": "%Y", "decade": "%Y"}


def field_label(f: FieldInfo) -> str:
    """The dictionary's description of `f` in the page's language (its first clause), with the
    unit; the column name when the dictionary says nothing."""
    zh = str(get_locale() or "").startswith("zh")
    text = (f.description_zh if zh else f.description_en) or f.description_en or f.description_zh or f.name
    for mark in (";", "；", ": ", "："):
        text = text.split(mark)[0]
    text = text.strip()
    if not f.unit or f.unit in text:
        return text
    # Descriptors write units in English: a Chinese axis gets the translated unit, an English one
    # keeps the short form the dictionary uses.
    # keep an axis title short and its brackets single: "元（人民币）" → "元", "ppmv（…）" → "ppmv"
    unit = unit_label(f.unit).split("（")[0].split(" (")[0].strip() or f.unit
    return f"{text}（{unit}）" if zh else f"{text} ({f.unit})"


def aggregate_headers(fields: tuple[FieldInfo, ...], by: tuple[str, ...], stat: str, measure: str | None,
                      *, interval: bool = False) -> list[str]:
    """Column titles of a public aggregate's table and chart in the page's language: each grouping
    field's dictionary label, then what the cells hold ("Number of records", "Mean of …"), and
    with `interval` (the ε-budget mode) its 95 % interval's two ends."""
    described = {f.name: f for f in fields}

    def label(name: str) -> str:
        f = described.get(name)
        return field_label(f) if f else name

    value = _("Number of records") if stat == "count" or not measure else _("Mean of %(field)s", field=label(measure))
    ends = [_("Low end (95 in 100 interval)"), _("High end (95 in 100 interval)")] if interval else []
    return [*(label(name) for name in by), value, *ends]


def field_labels(fields: tuple[FieldInfo, ...]) -> dict[str, str]:
    """{name: dictionary label in the page's language} for form menus."""
    return {f.name: field_label(f) for f in fields}


def measure_label(chart: ChartSeries) -> str:
    """The y axis title: what each mark's value is."""
    agg, y = chart.params.agg, chart.y
    if chart.scale == "scatter" and y is not None:
        return field_label(y)
    if agg == "count" or y is None:
        return _("Number of records")
    label = field_label(y)
    if chart.series.single and agg in ("sum", "mean", "median", "min", "max"):
        return label  # one record per mark: the value itself, not an aggregate of several
    return {"sum": _("Total of %(field)s", field=label), "mean": _("Mean of %(field)s", field=label),
            "median": _("Median of %(field)s", field=label), "min": _("Minimum of %(field)s", field=label),
            "max": _("Maximum of %(field)s", field=label)}[agg]


def time_unit_label(unit: str) -> str:
    return {"hour": _("hour"), "day": _("day"), "week": _("week"), "month": _("month"), "quarter": _("quarter"),
            "year": _("year"), "decade": _("decade")}[unit]


def note(chart: ChartSeries) -> str:
    """Which rows were charted (the preview's filters, aggregate rows left out), what the marks
    stand for, and what was grouped, binned, bucketed or sampled."""
    return " ".join(part for part in (rows_note(chart), _reduction_note(chart)) if part)


def rows_note(chart: ChartSeries) -> str:
    """The filters the chart follows and the aggregate rows it leaves out, in words."""
    parts = []
    if chart.filters:
        parts.append(_("Only records where %(conditions)s.",
                       conditions=_("; ").join(_condition(f, item) for f, item in chart.filters)))
    for f, values in chart.excluded:
        shown = _(", ").join(values[:3])
        if len(values) > 3:
            shown += ngettext(" and %(num)s other", " and %(num)s others", len(values) - 3)
        parts.append(_("Rows that aggregate other rows are left out (%(field)s: %(values)s).",
                       field=field_label(f), values=shown))
    return " ".join(parts)


def _condition(f: FieldInfo, item) -> str:
    name = field_label(f)
    label = operator_label(item.op, item.value, f.type)
    if item.op == "is_null":
        return f"{name} {label}"
    value = item.value
    if isinstance(value, list):
        value = "–".join(value) if item.op == "between" else _(", ").join(value)
    return f"{name} {label} {value}"


def _reduction_note(chart: ChartSeries) -> str:
    s = chart.series
    rows = _n(s.rows)
    if chart.scale == "nominal" and s.groups > len(s.points):
        rest = s.groups - len(s.points)
        if _keeps_others(chart):
            return _("Top %(shown)s of %(total)s categories by %(measure)s; the other %(rest)s are grouped "
                     "as “Others”. %(rows)s records.", shown=len(s.points), total=_n(s.groups),
                     measure=measure_label(chart), rest=_n(rest), rows=rows)
        return _("Top %(shown)s of %(total)s categories by %(measure)s; the other %(rest)s are not shown.",
                 shown=len(s.points), total=_n(s.groups), measure=measure_label(chart), rest=_n(rest))
    if chart.scale == "temporal" and s.unit:
        return _("%(groups)s distinct times, drawn as one point per %(unit)s (%(points)s points) "
                 "from %(rows)s records.", groups=_n(s.groups), unit=time_unit_label(s.unit),
                 points=len(s.points), rows=rows)
    if chart.scale == "quantitative":
        return _("%(rows)s records in %(bins)s bins of width %(step)s.", rows=rows, bins=len(s.points),
                 step=_number(s.step))
    if chart.scale == "scatter" and s.rows > len(s.points):
        return _("A random sample of %(shown)s of %(rows)s records.", shown=_n(len(s.points)), rows=rows)
    return _("Records: %(count)s", count=rows) if s.rows else _("No record to chart.")


def title(chart: ChartSeries) -> str:
    if chart.scale == "scatter":
        return _("%(y)s against %(x)s", y=measure_label(chart), x=field_label(chart.x))
    if chart.scale == "quantitative" and chart.params.agg == "count":
        return _("Distribution of %(field)s", field=field_label(chart.x))
    return _("%(y)s by %(x)s", y=measure_label(chart), x=field_label(chart.x))


def payload(chart: ChartSeries) -> dict:
    """The JSON the dataset page draws (chart.js builds the Vega-Lite spec from it)."""
    p, s = chart.params, chart.series
    unit = s.unit if chart.scale == "temporal" else None
    return {
        "query": {"x": p.x, "y": p.y, "agg": p.agg, "kind": _mark(chart), **p.filter_args()},
        "title": title(chart), "note": note(chart),
        "x": {"field": p.x, "title": field_label(chart.x), "scale": chart.scale,
              "format": TIME_FORMATS.get(unit) if unit else _raw_time_format(chart)},
        "y": {"title": measure_label(chart)},
        "mark": _mark(chart),
        "values": list(_values(chart)),
        "rows": s.rows, "groups": s.groups, "limit": chart.limit,
    }


def csv_rows(chart: ChartSeries) -> Iterator[list]:
    """The plotted values as a table: header, then one row per mark (bins as from/to)."""
    x, y = field_label(chart.x), measure_label(chart)
    if chart.scale == "quantitative":
        yield [_("%(field)s from", field=x), _("%(field)s to", field=x), y]
    else:
        yield [x, y]
    for value in _values(chart):
        if chart.scale == "quantitative":
            yield [value["x"], value["x2"], value["y"]]
        else:
            yield [value["x"], value["y"]]


def _values(chart: ChartSeries) -> Iterator[dict]:
    s = chart.series
    for point in s.points:
        if chart.scale == "quantitative":
            yield {"x": _plain_utc(point[0]), "x2": _plain_utc(point[1]), "y": _plain_utc(point[2])}
        else:
            x = _plain_utc(point[0])
            yield {"x": _("(empty)") if x is None and chart.scale in ("nominal", "ordinal") else x,
                   "y": _plain_utc(point[1])}
    if s.others and _keeps_others(chart):
        yield {"x": _("Others (%(n)s)", n=_n(s.groups - len(s.points))), "y": _plain_utc(s.others[0]), "others": True}


def _keeps_others(chart: ChartSeries) -> bool:
    """A total of the other keys' own values is no value of anything: one-row-per-key data shows
    its top values and says how many are left out."""
    return not (chart.series.single and chart.params.agg == "sum")


def _mark(chart: ChartSeries) -> str:
    kind = chart.params.kind
    if chart.scale == "scatter":
        return "point"
    if chart.scale == "quantitative":
        return "bar"
    if chart.scale == "temporal":
        return kind if kind in ("bar", "point") else "line"
    if chart.scale == "nominal" and kind == "line":
        return "bar"  # categories have no order (they come largest first): a line would draw a trend
    return kind or "bar"


def _raw_time_format(chart: ChartSeries) -> str | None:
    if chart.scale != "temporal":
        return None
    return {"timestamp": "%Y-%m-%d %H:%M", "date": "%Y-%m-%d"}.get(chart.x.type, "%Y")


def _n(value: int) -> str:
    return f"{value:,}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def map_payload(found: MapPoints) -> dict:
    """The JSON of the dataset page's map: points with their row (labels in the page's language),
    or grid cells with counts, and a note saying which."""
    p = found.points
    if p.cells:
        text = _("%(total)s points in this area, counted in squares of %(cell)s°; zoom in to see each point.",
                 total=_n(p.total), cell=_number(p.cell))
    else:
        text = _("Points on the map: %(count)s", count=_n(p.total))
    if p.located < p.rows:
        text += " " + _("%(missing)s of %(rows)s records have no usable coordinates and are not drawn.",
                        missing=_n(p.rows - p.located), rows=_n(p.rows))
    return {
        "total": p.total, "located": p.located, "rows": p.rows, "limit": found.limit, "bounds": p.bounds, "note": text, "cell": p.cell,
        "columns": [field_label(f) for f in found.fields],
        "points": [[lon, lat, [_plain_utc(v) for v in values]] for lon, lat, values in p.points],
        "cells": [list(c) for c in p.cells],
    }


def _plain_utc(value):
    """Chart values on the wire: timestamps in UTC with `Z` (the chart's time axis is UTC)."""
    return plain(value, utc=True)
