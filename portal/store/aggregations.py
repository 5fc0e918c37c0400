"""The one set of aggregate semantics of the store.

Previews' chart series (`charts.py`), `aggregate` (the rows API's and the sample writer's
measures) and the sandbox's plans (`plan_sql.py`) all compile an aggregate here, so `sum` means
the same on a chart as in an analyst's plan. The semantics are those of the analysts' model
(Polars) where SQL differs, and are written down in docs/store.md ("Aggregate semantics"):

- every function but `count()` reads the non-null values of its argument only;
- `count()` counts the rows, `count(x)` the non-null values, `count_distinct(x)` the distinct
  non-null values;
- `sum` of no values is 0 (the additive identity, as in Polars, pandas and Python), not SQL's
  NULL; the contributor count beside it says how many values there were;
- `mean`, `median`, `quantile`, `min`, `max` of no values are null; `std` (sample, n - 1) is
  null below two values;
- `median` is `quantile(0.5)`, and quantiles interpolate linearly between the closest ranks
  (DuckDB's `quantile_cont`, numpy's and Polars' "linear").

Pure: SQL text only, executes nothing.
"""

from __future__ import annotations

import math

from portal.store.errors import QueryError

COUNT_ALL = "count(*)"
# Beside each value, for disclosure checks: its non-null inputs.
CONTRIBUTORS = "count({0})"
# {0} is the argument's SQL; a quantile's q is a validated constant put in by `quantile_sql`.
TEMPLATES = {
    "count": "count({0})",
    "count_distinct": "count(DISTINCT {0})",
    "sum": "coalesce(sum({0}), 0)",
    "mean": "avg({0})",
    "median": "median({0})",
    "min": "min({0})",
    "max": "max({0})",
    "std": "stddev_samp({0})",
}
FUNCTIONS = (*TEMPLATES, "quantile")
NUMERIC_ONLY = frozenset({"sum", "mean", "median", "std", "quantile"})
ALWAYS_FLOAT = frozenset({"mean", "std", "quantile"})
ALWAYS_INTEGER = frozenset({"count", "count_distinct"})


def template(func: str, q: object = None, *, field: str = "q") -> str:
    """The SQL template of `func` (`{0}` for its argument).

    Raises:
        QueryError: `unknown-function` for a function not in `FUNCTIONS`; `invalid-quantile`
            for a quantile whose q is not a number from 0 to 1 (reported on `field`).
    """
    if func == "quantile":
        return "quantile_cont({0}, " + quantile_literal(q, field=field) + ")"
    found = TEMPLATES.get(func)
    if found is None:
        raise QueryError("unknown-function", f"unknown function {func!r}; known: {', '.join(FUNCTIONS)}")
    return found


def quantile_literal(q: object, *, field: str = "q") -> str:
    """q as a SQL constant: DuckDB needs a constant here, not a parameter, so q is validated and
    formatted by Python (`repr` of a float), never taken as text."""
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 1 or math.isnan(q):
        raise QueryError("invalid-quantile", "quantile needs q between 0 and 1", field=field)
    return repr(float(q))


def result_type(func: str, arg_type: str) -> str:
    """The store type of `func` over an argument of store type `arg_type`."""
    if func in ALWAYS_INTEGER:
        return "integer"
    if func in ALWAYS_FLOAT or (func == "median" and arg_type == "integer"):
        return "float"
    return arg_type
