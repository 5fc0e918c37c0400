"""Type inference: which portable type each text column of a source holds.

The rules are regular expressions evaluated by DuckDB (`regexp_full_match`, RE2) over a sample of
the rows, or over all rows when the fast pass found that the sample was wrong; Python's `re` uses
the same patterns to check a header line. The order of preference is boolean, integer, decimal,
float, date, timestamp, text, and a column with no values at all is text.

- integer: no leading zeros and at most 18 digits, so codes such as 行政区划代码 "010101", postal
  codes "030001" and 18-digit ID numbers stay text (their zeros are data).
- codes: a column whose name says it holds codes (代码, 编码, 邮编, `code`, `id`, `zip`, ...; see
  `CODE_WORDS`) and whose values are all digit strings is text, and so is any column whose values
  are digit strings of one fixed width of at least `FIXED_WIDTH` digits (division codes, postal
  codes, phone numbers), with or without leading zeros: codes are never summed, and their width
  is part of their meaning - unless the name says the column is a measure (户籍人口, 学生数,
  金额, 产值, `population`, a unit in brackets such as `(万元)`; see `is_measure_name`): six-digit
  populations of every district are still numbers.
- decimal vs float: fixed-point values whose fractional digits all have the same count (1 to 4),
  such as prices "12.50" or readings "-4.5", are exact decimals DECIMAL(18, scale); numbers with
  varying scales, exponents or more digits are floats. Integers may mix with a decimal column.
- numbers and dates as statistical tables write them (`tidy_sql`): a column whose values are
  numbers (dates) except for placeholders of a missing figure (`MISSING_MARKERS`: "—", "…", "-",
  "/", ...), numbers written with thousands separators ("1,234.50") and dates written "2023年1月5日"
  or "2023.01.05" is a number (date) column; the placeholders are read as missing, the separators
  dropped, the dates read as dates, and the load report says so. Elsewhere both stay as written:
  a text column keeps its "—", and "1,2" (not a grouping of thousands) keeps the column text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.store import sql

MAX_DECIMAL_SCALE = 4
FIXED_WIDTH = 6

# Placeholders Chinese (and other) statistical tables put where a figure is missing or not
# applicable: "—" (不适用/无), "…" (数据不详), "-", "/" ... (compared after trimming spaces).
MISSING_MARKERS = ("-", "--", "—", "——", "－", "－－", "–", "…", "……", "...", "/", "／")
# A number with its thousands grouped by commas: 1,234 / -12,345,678.90 (not 1,2 nor 12,34).
GROUPED_NUMBER = r"[+-]?[1-9][0-9]{0,2}(,[0-9]{3})+(\.[0-9]+)?"
# A date as Chinese tables write it: 2023年1月5日, or with dots: 2023.01.05.
WRITTEN_DATE = r"[0-9]{4}(年[0-9]{1,2}月[0-9]{1,2}日|\.[0-9]{1,2}\.[0-9]{1,2})"
NUMBER_TYPES = ("integer", "decimal", "float")
TIDY_TYPES = (*NUMBER_TYPES, "date")

# Words that make a column a code column. Chinese words match anywhere in the name; English
# words match a whole word of it (split at non-letters and camelCase), or its end for words of
# four letters or more (`adcode`, `zipcode`).
CODE_WORDS = (
    "代码", "编码", "编号", "区号", "邮编", "邮政编码", "身份证", "证号", "证件号", "号码", "电话",
    "手机", "账号", "帐号", "卡号", "工号", "学号", "code", "id", "zip", "zipcode", "postcode",
    "postal", "fips", "isbn", "phone", "tel",
)

# Names of measures, which the fixed-width rule must not turn into text (the name rule still
# wins: 区划代码 is a code whatever else it says). Chinese words match anywhere, the endings at the
# end of the name (ignoring a bracketed unit), English words a whole word of it.
MEASURE_WORDS = (
    "人口", "金额", "收入", "支出", "产值", "产量", "面积", "合计", "总计", "小计", "销售", "价格",
    "工资", "费用", "余额", "总额", "增加值", "population", "amount", "total", "count", "revenue",
    "income", "expenditure", "price", "sales", "cost", "salary", "sum", "qty", "quantity", "area",
)
MEASURE_ENDINGS = ("数", "量", "额", "值", "率")
_UNIT = re.compile(r"[(（\[【][^)）\]】]*[元人户吨个次辆所家亩米克斤升度‰%％万亿千百][^)）\]】]*[)）\]】]")
_BRACKETED = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")

PATTERNS = {
    "boolean": r"(?i)(true|false)",
    "integer": r"[+-]?(0|[1-9][0-9]{0,17})",
    "fixed": r"[+-]?(0|[1-9][0-9]{0,13})(\.[0-9]{1,4})?",
    "float": r"[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
    "digits": r"[0-9]+",
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
    min_width: int | None = None  # of the values that are digit strings
    max_width: int | None = None
    markers: int = 0  # values that are placeholders of a missing figure (MISSING_MARKERS)
    grouped: int = 0  # values that are numbers with thousands separators (GROUPED_NUMBER)
    written_dates: int = 0  # values that are dates written 2023年1月5日 or 2023.01.05 (WRITTEN_DATE)


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
        digits = sql.quote_literal(PATTERNS["digits"])
        for agg in ("min", "max"):
            exprs.append(sql.STATS_WIDTH.format(agg=agg, column=col, pattern=digits))
        exprs.append(sql.STATS_MARKERS.format(column=col, markers=_MARKERS_SQL))
        exprs.append(sql.STATS_MATCHES.format(column=col, pattern=sql.quote_literal(GROUPED_NUMBER)))
        exprs.append(sql.STATS_MATCHES.format(column=col, pattern=sql.quote_literal(WRITTEN_DATE)))
    return sql.WRAP.format(exprs=", ".join(exprs), inner=source)


_MARKERS_SQL = ", ".join(sql.quote_literal(m) for m in MISSING_MARKERS)


def parse_stats(columns: list[str], row: tuple) -> list[ColumnStats]:
    """Split the single row of `stats_query` into one `ColumnStats` a column."""
    width = 8 + len(PATTERNS)
    out = []
    for i, _ in enumerate(columns):
        chunk = row[i * width:(i + 1) * width]
        matches = dict(zip(PATTERNS, chunk[1:-7], strict=True))
        out.append(ColumnStats(chunk[0], matches, *chunk[-7:]))
    return out


@dataclass(frozen=True)
class TidiedColumn:
    """A column read as numbers once its placeholders and thousands separators were read as such."""

    column: str
    type: str
    markers: tuple[str, ...]  # the placeholders found (in the rows measured), read as missing
    grouped: bool  # some numbers had thousands separators, dropped
    written_dates: bool = False  # some dates were written 2023年1月5日 or 2023.01.05

    def describe(self) -> str:
        parts = []
        if self.markers:
            parts.append(f"{', '.join(repr(m) for m in self.markers)} read as missing")
        if self.grouped:
            parts.append("thousands separators dropped")
        if self.written_dates:
            parts.append("dates written 2023年1月5日 or 2023.01.05 read as dates")
        return f"column {self.column!r} read as {self.type}: {'; '.join(parts)}"

    def as_dict(self) -> dict:
        return {"column": self.column, "type": self.type, "markers": list(self.markers), "grouped": self.grouped,
                "written_dates": self.written_dates}

    @classmethod
    def from_dict(cls, data: dict) -> TidiedColumn:
        return cls(data["column"], data["type"], tuple(data.get("markers", ())), bool(data.get("grouped")),
                   bool(data.get("written_dates")))


def tidy_sql(column: str) -> str:
    """The value of `column` (quoted) as a number column reads it: a missing-figure placeholder is
    NULL and a number's thousands separators are dropped; any other value is left as it is."""
    return sql.TIDY_NUMBER.format(column=column, markers=_MARKERS_SQL,
                                  grouped=sql.quote_literal(GROUPED_NUMBER), dated=sql.quote_literal(WRITTEN_DATE))


def markers_found_sql(column: str) -> str:
    """An aggregate listing the placeholders of missing figures `column` (quoted) holds."""
    return sql.MARKERS_FOUND.format(column=column, markers=_MARKERS_SQL)


def needs_tidying(stats: ColumnStats, inferred: Inferred) -> bool:
    """Whether the column might be numbers or dates once placeholders, separators and written
    dates are read as such: it is text as written, yet holds some of them, and has a number or a
    date among its values."""
    if inferred.type != "text" or not (stats.markers or stats.grouped or stats.written_dates):
        return False
    m = stats.matches
    return stats.grouped > 0 or stats.written_dates > 0 or m.get("float", 0) > 0 or m.get("date", 0) > 0


def tidied_number(stats: ColumnStats, inferred: Inferred) -> bool:
    """Whether the measures of the tidied values (`tidy_sql`) make the column a number or date column."""
    return inferred.type in TIDY_TYPES and stats.values > 0


def is_code_name(name: str, words: tuple[str, ...] = CODE_WORDS) -> bool:
    """Whether a column's name says it holds codes (see `CODE_WORDS`)."""
    tokens = [t.casefold() for t in _WORDS.findall(name)]
    for word in words:
        if not word.isascii():
            if word in name:
                return True
        elif any(t == word or (len(word) >= 4 and t.endswith(word)) for t in tokens):
            return True
    return False


_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_measure_name(name: str) -> bool:
    """Whether a column's name says it holds a quantity (see `MEASURE_WORDS`)."""
    if _UNIT.search(name):
        return True
    bare = _BRACKETED.sub("", name).strip()
    if bare.endswith(MEASURE_ENDINGS):
        return True
    tokens = {t.casefold() for t in _WORDS.findall(name)}
    return any(word in name if not word.isascii() else word in tokens for word in MEASURE_WORDS)


def is_code(stats: ColumnStats, *, code_name: bool, measure_name: bool = False) -> bool:
    """All values are digit strings, and the name says code, or the width is fixed and the name
    does not say measure."""
    n = stats.values
    if n == 0 or stats.matches.get("digits") != n:
        return False
    fixed = stats.min_width == stats.max_width and (stats.max_width or 0) >= FIXED_WIDTH
    return code_name or (fixed and n >= 2 and not measure_name)


def infer(stats: ColumnStats, *, code_name: bool = False, measure_name: bool = False) -> Inferred:
    """The narrowest type every value of the column fits; codes are text."""
    n, m = stats.values, stats.matches
    if n == 0 or is_code(stats, code_name=code_name, measure_name=measure_name):
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
