"""Chart service: which chart a dataset shows first, and the capped series of any chart asked for.

`chart_series` parses nothing and renders nothing: it takes `ChartParams` (all None = choose the
default from the data dictionary), checks that the actor may read rows, and returns a
`ChartSeries` whose `series` says how many records and groups stand behind the marks. Wording
(titles, notes in the page's language) is `portal/catalog/chartlabels.py`'s job.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session

from portal import store
from portal.auth import Actor
from portal.catalog import fieldroles
from portal.catalog.fieldroles import FieldFacts
from portal.catalog.rows import stored_table
from portal.catalog.schemas import FieldInfo, parse_filters
from portal.catalog.service import get_dataset
from portal.errors import BadRequest

KINDS = ("bar", "line", "point")
HISTOGRAM_BINS = 40


@dataclass(frozen=True)
class ChartParams:
    """What the visitor asked for; None everywhere means "the default chart"."""

    x: str | None = None
    y: str | None = None
    agg: str | None = None
    kind: str | None = None
    # the preview's filters as written (`column__op`, value): the chart shows the rows the table does
    where: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> ChartParams:
        """Raises: BadRequest `bad-parameter` for an unknown aggregate or kind."""
        values = {k: (args.get(k) or "").strip()[:200] or None for k in ("x", "y", "agg", "kind")}
        values["where"] = tuple((k, v) for k, v in args.items() if "__" in k)
        if values["agg"] and values["agg"] not in store.charts.CHART_AGGREGATES:
            raise BadRequest(f"aggregate must be one of {', '.join(store.charts.CHART_AGGREGATES)}",
                             code="bad-parameter")
        if values["kind"] and values["kind"] not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}", code="bad-parameter")
        return cls(**values)

    def filter_args(self) -> dict[str, str]:
        return dict(self.where)

    @property
    def automatic(self) -> bool:
        return self.x is None


@dataclass(frozen=True)
class ChartSeries:
    """A chart's values and what they are: `scale` is the x axis's (nominal, ordinal, temporal,
    quantitative for bins, scatter for two measures)."""

    params: ChartParams
    x: FieldInfo
    y: FieldInfo | None
    scale: str
    series: store.charts.Series
    limit: int
    # the visitor's (the preview's) filters as applied, each with its field's dictionary entry
    filters: tuple[tuple[FieldInfo, store.Filter], ...] = ()
    # rows left out because they aggregate others: (field, its flagged values) per field
    excluded: tuple[tuple[FieldInfo, tuple[str, ...]], ...] = ()


def chart_series(session: Session, actor: Actor, slug: str, params: ChartParams, *, data_dir: Path,
                 max_categories: int, max_points: int, language: str | None = None) -> ChartSeries:
    """The values of the chart `params` asks for, or of the dataset's default chart, reduced to at
    most `max_categories` bars or `max_points` points (time buckets, scatter samples). The default
    chart groups by the page's `language` ("zh" or "en") where a field comes in both.

    Only rows matching the filters (`params.where`, the preview's `column__op=value`, parsed as
    the row API parses them) are charted, and rows that
    aggregate others are left out: a "World" or 合计 row beside its parts would be averaged or
    counted with them. They are the values a publisher flags (`kaifang.fields.<f>.aggregates`) and
    the totals rows found at load; a visitor filtering on such a field chose their rows and gets
    them as asked.

    Raises:
        NotFound, Forbidden: as `rows.stored_table`.
        BadRequest: `unknown-column`, `missing-measure`, `invalid-measure`, `bad-parameter`;
            for a filter `unknown-operator` and `invalid-value`.
    """
    detail = get_dataset(session, actor, slug)
    _, table = stored_table(session, actor, slug, data_dir=data_dir)
    fields = _fields(detail.fields, table)
    filters = parse_filters(params.filter_args(), set(fields))
    profile = _profile(table.path, table.columns)
    if params.automatic:
        params = replace(default_chart(list(fields.values()), profile,
                                       coordinates=tuple((detail.coordinates or {}).values()), language=language),
                         where=params.where)
    params = _complete(params, fields)
    x = fields[params.x]
    facts = _facts(x)
    excluded = aggregate_rows(fields, detail.current.totals_labels() if detail.current else {}, filters)
    applied = (*filters, *(store.Filter(f.name, "notin", list(values)) for f, values in excluded))
    try:
        scale, series, limit = _run(table, params, facts, profile, max_categories, max_points, applied)
    except store.QueryError as exc:
        raise BadRequest(exc.message, code=exc.code) from exc
    return ChartSeries(params=params, x=x, y=fields.get(params.y) if params.y else None, scale=scale,
                       series=series, limit=limit, filters=tuple((fields[f.column], f) for f in filters),
                       excluded=excluded)


def aggregate_rows(fields: dict[str, FieldInfo], totals: dict[str, list[str]],
                   filters: tuple[store.Filter, ...]) -> tuple[tuple[FieldInfo, tuple[str, ...]], ...]:
    """Per field, the values that mark aggregate rows (declared, or totals rows found at load),
    for the fields the visitor does not filter on."""
    filtered = {f.column for f in filters}
    found = []
    for name, f in fields.items():
        values = tuple(dict.fromkeys((*f.aggregates, *totals.get(name, ()))))
        if values and name not in filtered and f.type == "text":
            found.append((f, values))
    return tuple(found)


def default_chart(fields: list[FieldInfo], profile: store.charts.Profile, *, coordinates: tuple[str, ...] = (),
                  language: str | None = None) -> ChartParams:
    """The first chart of a dataset, from its dictionary: a measure over time for a time series;
    a measure by key for one-row-per-key data; a measure's mean by a repeated category; a count
    by category where there is no measure; a count over time; a histogram; a count by the first
    column."""
    facts = [_facts(f) for f in fields]
    times = fieldroles.time_fields(facts, profile)
    measures = fieldroles.measure_fields(facts, profile, coordinates=coordinates)
    keys = fieldroles.key_fields(facts, profile, language=language)
    categories = [f for f in fieldroles.category_fields(facts, profile, language=language)
                  if profile.distinct[f.name] < profile.rows]
    measure = measures[0].name if measures else None
    if times and measure:
        return ChartParams(times[0].name, measure, "mean", "line")
    if keys and measure:
        return ChartParams(keys[0].name, measure, "sum", "bar")
    if categories and measure:
        return ChartParams(categories[0].name, measure, "mean", "bar")
    if categories:
        return ChartParams(categories[0].name, None, "count", "bar")
    if times:
        return ChartParams(times[0].name, None, "count", "line")
    if measure:
        return ChartParams(measure, None, "count", "bar")
    return ChartParams(fields[0].name, None, "count", "bar")


def _complete(params: ChartParams, fields: dict[str, FieldInfo]) -> ChartParams:
    if params.x not in fields or (params.y and params.y not in fields):
        raise BadRequest("chart columns must be columns of the dataset", code="unknown-column")
    agg = params.agg or "count"
    if agg != "count" and not params.y:
        raise BadRequest(f"{agg} needs a numeric column (parameter y)", code="missing-measure")
    return replace(params, agg=agg, y=params.y if agg != "count" or params.kind == "point" else None)


def _run(table, params: ChartParams, x: FieldFacts, profile, max_categories: int, max_points: int,
         filters: tuple[store.Filter, ...] = ()):
    charts = store.charts
    common = {"agg": params.agg, "y": params.y, "filters": filters}
    if fieldroles.is_time(x, profile):
        series = charts.timeline(table, x.name, limit=max_points, year_column=fieldroles.is_year(x, profile), **common)
        return "temporal", series, max_points
    if x.type in fieldroles.NUMERIC:
        if params.kind == "point" and params.y:
            return "scatter", charts.scatter(table, x.name, params.y, limit=max_points, filters=filters), max_points
        if x.type == "integer" and profile.distinct.get(x.name, 0) <= max_categories:
            return "ordinal", charts.ordinal(table, x.name, limit=max_categories, **common), max_categories
        return "quantitative", charts.bins(table, x.name, limit=HISTOGRAM_BINS, **common), HISTOGRAM_BINS
    return "nominal", charts.categories(table, x.name, limit=max_categories, **common), max_categories


def _fields(declared: tuple[FieldInfo, ...], table: store.StoredTable) -> dict[str, FieldInfo]:
    """The dictionary entries of the stored columns (a column without one gets a bare entry)."""
    described = {f.name: f for f in declared}
    return {c.name: replace(described[c.name], type=c.type) if c.name in described
            else FieldInfo(c.name, c.type, "", "", None, False, False) for c in table.columns}


def _facts(f: FieldInfo) -> FieldFacts:
    return FieldFacts(f.name, f.type, f.description_en, f.unit, f.identifier)


@functools.lru_cache(maxsize=128)
def _profile(path: Path, columns: tuple[store.Column, ...]) -> store.charts.Profile:
    """Versions are immutable files, so a profile is computed once per file and process."""
    return store.charts.profile(store.StoredTable(path, columns))
