"""The data API as the notebook presents it: the reference panel and the editor's completions.

One list, read by both, so the panel never documents a name the editor does not complete and
the reverse. The names are the sandbox's own (`sandbox.execution.api_names` and
`EXPRESSION_NAMES`, the methods of `LazyTable`, `GroupBy`, `Expr` and `Frame`);
`tests/unit/portal/test_notebook_reference.py` checks every one exists there, so a renamed function
in the sandbox fails a test instead of leaving a stale completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Entry:
    name: str
    signature: str
    doc: object  # a lazy string
    owner: str  # "builtin", "table", "group_by", "expr", "frame"


FUNCTIONS = (
    Entry("dataset", 'dataset("slug")', _l("A lazy table of a dataset of this session: no rows until a terminal call."), "builtin"),
    Entry("col", 'col("name")', _l("A column, for filters and computed columns."), "builtin"),
    Entry("lit", "lit(value)", _l("A constant value as an expression."), "builtin"),
    Entry("count", "count()", _l("Number of records in each group."), "builtin"),
    Entry("count_distinct", 'count_distinct("column")', _l("Number of distinct values in each group."), "builtin"),
    Entry("sum", 'sum("column")', _l("Sum of a column (the builtin sum for anything else)."), "builtin"),
    Entry("mean", 'mean("column")', _l("Mean of a column."), "builtin"),
    Entry("median", 'median("column")', _l("Median of a column (open data; on conditional data only in the ε-budget mode)."), "builtin"),
    Entry("min", 'min("column")', _l("Smallest value (open data; the builtin min for anything else)."), "builtin"),
    Entry("max", 'max("column")', _l("Largest value (open data; the builtin max for anything else)."), "builtin"),
    Entry("quantile", 'quantile("column", 0.9)', _l("A quantile of a column (open data; on conditional data only in the ε-budget mode)."), "builtin"),
    Entry("std", 'std("column")', _l("Standard deviation of a column (open data)."), "builtin"),
    Entry("show", "show(table)", _l("Show a table (its first 50 rows) or any value in the cell's output."), "builtin"),
    Entry("chart", 'chart(table, x="col", y="col", kind="bar", color=None, title=None)',
          _l("A Vega-Lite chart of released values; kind is bar, line, point or area."), "builtin"),
    Entry("print", "print(...)", _l("Print text to the cell's output."), "builtin"),
    Entry("QueryRefused", "except QueryRefused as refused:", _l("Raised when a query is refused; .rule and .reason say why."), "builtin"),
)

METHODS = (
    Entry("filter", "table.filter(col(\"age\") >= 60)", _l("Keep the records where the condition holds."), "table"),
    Entry("select", 'table.select("a", "b")', _l("Keep only these columns."), "table"),
    Entry("with_columns", 'table.with_columns((col("cost") / 100).alias("cost_hundreds"))', _l("Add computed columns."), "table"),
    Entry("group_by", 'table.group_by("district")', _l("Group by columns; follow with .agg(...). On conditional data, only by columns with declared levels."), "table"),
    Entry("agg", "table.group_by(...).agg(count(), mean(\"cost\"))", _l("Aggregate each group (or the whole table)."), "table"),
    Entry("join", 'table.join(dataset("other"), on="district", how="left")', _l("Join another dataset of this session."), "table"),
    Entry("sort", 'table.sort("visits", descending=True)', _l("Sort by columns."), "table"),
    Entry("limit", "table.limit(10)", _l("The first n rows."), "table"),
    Entry("head", "table.head(5)", _l("Collect the first n rows (open data)."), "table"),
    Entry("collect", "table.collect()", _l("Run the query: a frame of released values."), "table"),
    Entry("count", "table.count()", _l("Run a count of the records (perturbed on conditional data)."), "table"),
    Entry("schema", "table.schema", _l("The columns and their types."), "table"),
    Entry("alias", 'mean("cost").alias("mean_cost")', _l("Name an expression's column."), "expr"),
    Entry("is_in", 'col("district").is_in(["和平区", "河西区"])', _l("True where the value is in the list."), "expr"),
    Entry("is_null", 'col("cost").is_null()', _l("True where the value is missing."), "expr"),
    Entry("is_not_null", 'col("cost").is_not_null()', _l("True where the value is present."), "expr"),
    Entry("cast", 'col("age").cast("float")', _l("Convert: int, float, str, bool, date, datetime."), "expr"),
    Entry("dt", 'col("visit_date").dt.month()', _l("Date parts: .dt.year(), .dt.month(), .dt.day()."), "expr"),
    Entry("year", 'col("visit_date").dt.year()', _l("The year of a date."), "expr"),
    Entry("month", 'col("visit_date").dt.month()', _l("The month of a date."), "expr"),
    Entry("day", 'col("visit_date").dt.day()', _l("The day of a date."), "expr"),
    Entry("n_unique", 'col("patient_id").n_unique()', _l("Number of distinct values, as a method."), "expr"),
    Entry("columns", "table.columns", _l("The column names of a table or a frame."), "table"),
    Entry("rows", "frame.rows", _l("A frame's rows, as tuples."), "frame"),
    Entry("to_dicts", "frame.to_dicts()", _l("A frame's rows as dictionaries."), "frame"),
    Entry("column", 'frame.column("visits")', _l("One column of a frame, as a list."), "frame"),
    Entry("shape", "frame.shape", _l("(rows, columns) of a frame."), "frame"),
)


def completion_words(datasets: list[dict]) -> dict[str, list[dict[str, str]]]:
    """What the editor completes: functions, methods, the session's dataset slugs and columns.

    `datasets` are the session's datasets as `views.dataset_info` describes them."""
    columns: dict[str, dict[str, str]] = {}
    for d in datasets:
        for f in d["fields"]:
            entry = columns.setdefault(f["name"], {"label": f["name"], "detail": f["type"], "info": ""})
            entry["info"] = (entry["info"] + "\n" if entry["info"] else "") + f"{d['slug']}: {f['description']}".strip()
    return {
        "functions": [{"label": e.name, "detail": e.signature, "info": str(e.doc)} for e in FUNCTIONS],
        "methods": [{"label": e.name, "detail": e.signature, "info": str(e.doc)}
                    for e in {e.name: e for e in METHODS}.values()],
        "datasets": [{"label": d["slug"], "detail": d["open_class"], "info": d["title"]} for d in datasets],
        "columns": list(columns.values()),
    }
