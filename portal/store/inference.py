"""Type inference: which portable type each text column of a source holds.

The rules are regular expressions evaluated by DuckDB (`regexp_full_match`, RE2) over a sample of
the rows, or over all rows when the fast pass found that the sample was wrong; Python's `re` uses
the same patterns to check a header line. The order of preference is boolean, integer, decimal,
float, date, timestamp, text, and a column with no values at all is text.

- integer: no leading zeros and at most 18 digits, so codes such as 行政区划代码 "010101", postal
  codes "030001" and 18-digit ID numbers stay text (their zeros are data).
- decimal vs float: fixed-point values whose fractional digits all have the same count (1 to 4),
  such as prices "12.50" or readings "-4.5", are exact decimals DECIMAL(18, scale); numbers with
  varying scales, exponents or more digits are floats. Integers may mix with a decimal column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.store import sql

MAX_DECIMAL_SCALE = 4

PATTERNS = {
    "boolean": r"(?i)(true|false)",
    "integer": r"[+-]?(0|[1-9][0-9]{0,17})",
    "fixed": r"[+-]?(0|[1-9][0-9]{0,13})(\.[0-9]{1,4})?",
    "float": r"[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
    "date": r"[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}",
    "timestamp": r"[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?",
}

_COMPILED = {name: re.compile(pattern) for name, pattern in PATTERNS.items()}


@dataclass(frozen=True)
class ColumnStats:
    """What the inference query measured for one column."""

    values: int
    matches: dict[str, int]
    min_scale: int | None
    max_scale: int | None


@dataclass(frozen=True)
class Inferred:
    """The inferred type of one column (and the decimal scale when it is a decimal)."""

    type: str
    scale: int = 0


def stats_query(columns: list[str], source: str) -> str:
    """One SELECT measuring every column of `source` (a relation of VARCHAR columns)."""
    exprs = []
    for name in columns:
        col = sql.quote_identifier(name)
        exprs.append(sql.STATS_COUNT.format(column=col))
        for pattern in PATTERNS.values():
            exprs.append(sql.STATS_MATCHES.format(column=col, pattern=sql.quote_literal(pattern)))
        fixed = sql.quote_literal(PATTERNS["fixed"])
        for agg in ("min", "max"):
            exprs.append(sql.STATS_SCALE.format(agg=agg, column=col, pattern=fixed))
    return sql.WRAP.format(exprs=", ".join(exprs), inner=source)


def parse_stats(columns: list[str], row: tuple) -> list[ColumnStats]:
    """Split the single row of `stats_query` into one `ColumnStats` a column."""
    width = 3 + len(PATTERNS)
    out = []
    for i, _ in enumerate(columns):
        chunk = row[i * width:(i + 1) * width]
        matches = dict(zip(PATTERNS, chunk[1:-2], strict=True))
        out.append(ColumnStats(chunk[0], matches, chunk[-2], chunk[-1]))
    return out


def infer(stats: ColumnStats) -> Inferred:
    """The narrowest type every value of the column fits."""
    n, m = stats.values, stats.matches
    if n == 0:
        return Inferred("text")
    for name in ("boolean", "integer"):
        if m[name] == n:
            return Inferred(name)
    if m["fixed"] == n and stats.min_scale == stats.max_scale and stats.max_scale:
        return Inferred("decimal", stats.max_scale)
    if m["float"] == n:
        return Inferred("float")
    if m["date"] == n:
        return Inferred("date")
    if m["timestamp"] == n:
        return Inferred("timestamp")
    return Inferred("text")


def matches_type(value: str, type_name: str) -> bool:
    """Whether one text value would be read as `type_name` (used on a would-be header line)."""
    if type_name == "decimal":
        return bool(_COMPILED["fixed"].fullmatch(value))
    pattern = _COMPILED.get(type_name)
    return bool(pattern and pattern.fullmatch(value))
