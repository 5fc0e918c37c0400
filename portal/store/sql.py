"""All SQL text of the store: identifier and literal quoting and the statement templates.

Rules (STYLE 6.3): a column name reaches SQL only through `quote_identifier`, a user value only as
a bound `?` parameter. Literals are quoted with `quote_literal` only for what DuckDB cannot bind
(file paths and `read_csv` options inside COPY, which are ours, never a user's). Row conditions
(filters and plans) are compiled by `plan_sql.py`, not written here.
"""

from __future__ import annotations

CSV_NULLS = ("", "NA", "N/A", "NULL", "null")


def quote_identifier(name: str) -> str:
    """`name` as a DuckDB identifier: wrapped in double quotes, inner quotes doubled."""
    if "\x00" in name:
        raise ValueError("identifier contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """`text` as a DuckDB string literal (single quotes doubled)."""
    if "\x00" in text:
        raise ValueError("literal contains a NUL byte")
    return "'" + text.replace("'", "''") + "'"


# Row filters have no SQL of their own: `queries.py` translates them into plan expressions and
# `plan_sql.compile_expression` compiles them, like the sandbox's plans.

NOT_NULL_SQL = "{column} IS NOT NULL"

# -- clauses ----------------------------------------------------------------------------------

WHERE = "WHERE {conditions}"
ALIAS = "{expr} AS {column}"
ORDER_BY = "ORDER BY {keys}"
GROUP_BY = "GROUP BY {keys}"
LIMIT = "LIMIT {limit}"
ORDER_KEY = "{column} {direction} NULLS LAST"


def conjunction(parts: list[str]) -> str:
    """`(a AND b AND ...)`."""
    return "(" + " AND ".join(parts) + ")"


def disjunction(parts: list[str]) -> str:
    """`(a OR b OR ...)`."""
    return "(" + " OR ".join(parts) + ")"


def where(conditions: list[str]) -> str:
    """A WHERE clause ANDing `conditions`, or "" when there are none."""
    return WHERE.format(conditions=" AND ".join(conditions)) if conditions else ""


def order_key(column: str, descending: bool) -> str:
    """One ORDER BY key (an already quoted column or a position), NULLs last."""
    return ORDER_KEY.format(column=column, direction="DESC" if descending else "ASC")


# -- keyset pagination (see cursors.py) -------------------------------------------------------

KEY_EQUAL = "{column} = ?"
KEY_IS_NULL = "{column} IS NULL"
KEY_AFTER = {
    False: "({column} > ? OR {column} IS NULL)",
    True: "({column} < ? OR {column} IS NULL)",
}

# -- row queries ------------------------------------------------------------------------------

ROW_NUMBER = "file_row_number"
ROW_AFTER = "file_row_number > ?"

SCAN = "read_parquet({path}, file_row_number = true)"

SELECT_PAGE = "SELECT {fields} FROM {scan} {where} ORDER BY {order} LIMIT {limit} OFFSET {offset}"

SELECT_COUNT = "SELECT count(*) FROM {scan} {where}"

# A page whose rows all share the value of its one sort key (ties.py): those rows in file order,
# within a window of row numbers, so DuckDB stops after `limit` rows instead of sorting them all.
ROW_BEFORE = "file_row_number < ?"
SELECT_TIED = "SELECT {fields} FROM {scan} {where} ORDER BY file_row_number LIMIT {limit}"
# Per row group of one column: its rows, and its min and max as the column's type (NULL: unknown).
ROW_GROUP_BOUNDS = (
    "SELECT row_group_num_rows, TRY_CAST(stats_min_value AS {type}),"
    " TRY_CAST(stats_max_value AS {type}) FROM parquet_metadata(?)"
    " WHERE path_in_schema = ? ORDER BY row_group_id"
)

SELECT_ALL = "SELECT {fields} FROM {scan} {where} {order}"

# A value held inside declared bounds (two parameters: low, high). least() and greatest() skip
# nulls in DuckDB, so without the CASE a missing value would become the lower bound.
CLAMP = "CAST(CASE WHEN {value} IS NULL THEN NULL ELSE least(greatest({value}, ?), ?) END AS {type})"

WRAP = "SELECT {exprs} FROM ({inner})"

# -- exports ----------------------------------------------------------------------------------

# Stored timestamps are UTC (docs/store.md); every text form says so with a trailing 'Z'.
ISO_TIMESTAMP = "replace(CAST({column} AS VARCHAR), ' ', {separator}) || 'Z' AS {column}"
ISO_DATE = "CAST({column} AS VARCHAR) AS {column}"
FINITE = "CASE WHEN isfinite({column}) THEN {column} END AS {column}"
JSON_ROWS = "SELECT to_json(struct_pack({fields})) FROM ({inner})"
GEO_POINT = (
    "CASE WHEN {lon} IS NULL OR {lat} IS NULL THEN NULL ELSE struct_pack(type := 'Point',"
    " coordinates := [CAST({lon} AS DOUBLE), CAST({lat} AS DOUBLE)]) END"
)
GEO_SHAPE = "json({column})"
STRUCT_FIELD = "{column} := {column}"
STRUCT = "struct_pack({fields})"
NO_PROPERTIES = "NULL"
GEO_FEATURES = (
    "SELECT to_json(struct_pack(type := 'Feature', geometry := {geometry},"
    " properties := {properties})) FROM ({inner})"
)

# -- aggregates -------------------------------------------------------------------------------

# What each aggregate function means: aggregations.py (shared with the charts and the plans).
SELECT_AGGREGATE = "SELECT {exprs} FROM {scan} {where} {group} {order} {limit}"


# -- ingest -----------------------------------------------------------------------------------

READ_CSV = (
    "read_csv({path}, columns = {columns}, header = true, auto_detect = false, delim = {delim},"
    " quote = '\"', escape = '\"', strict_mode = true, null_padding = false,"
    " nullstr = {nulls}, compression = {compression}, max_line_size = {max_line})"
)

# Version files are compressed with LZ4 (DuckDB writes the LZ4_RAW codec), not zstd: every page
# that cannot skip row groups decompresses the whole column chunks it reads, and on the 10 M-row
# benchmark file LZ4 made such pages 25-30 % cheaper in CPU for a file 13 % larger and the same
# ingest time (decision 0022f, docs/performance.md). Both COPY templates below say so.

COPY_PARQUET = (
    "COPY (SELECT {select} FROM {source} {order}) TO {target}"
    " (FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE {row_group_size})"
)

# Clustering on a text column sorts by its hash: equal values still end up together (which is
# all row-group pruning needs) and an integer sort key costs far less than a string one.
CLUSTER_TEXT = "hash({column})"

# Automatic clustering (clustering.py): sample measures, per-column ranks, the Z-order key.
CLUSTER_TRY_CAST = "TRY_CAST({column} AS {type})"
CLUSTER_DISTINCT = "count(DISTINCT {value})"
CLUSTER_MIN = "min({value})"
CLUSTER_MAX = "max({value})"
CLUSTER_VALUES = (
    "SELECT CAST(v AS VARCHAR) FROM (SELECT DISTINCT {value} AS v FROM ({inner}))"
    " WHERE v IS NOT NULL ORDER BY v"
)
CLUSTER_ENUM = "ENUM({values})"
CLUSTER_TEXT_RANK = "coalesce(CAST(enum_code(TRY_CAST({column} AS {enum})) AS BIGINT), {top})"
CLUSTER_BOOL_RANK = "coalesce(CAST({column} AS BIGINT), 2)"
CLUSTER_INT_OFFSET = "(CAST({column} AS HUGEINT) - {low})"
CLUSTER_DATE_OFFSET = "date_diff('day', DATE {low}, {column})"
CLUSTER_OFFSET_RANK = "coalesce(CAST(least(greatest({offset}, 0), {top} - 1) AS BIGINT), {top})"
CLUSTER_SPREAD = "list_extract([{spread}], {rank} + 1)"
CLUSTER_SELECT = (
    "SELECT {names} FROM (SELECT *, {ranks} FROM (SELECT {select} FROM {source})) ORDER BY {key}"
)
COPY_QUERY_PARQUET = (
    "COPY ({query}) TO {target} (FORMAT parquet, COMPRESSION lz4, ROW_GROUP_SIZE {row_group_size})"
)

SAMPLE = "SELECT * FROM {source} LIMIT {rows}"
SCAN_ALL = "SELECT * FROM {source}"

# Type inference (see inference.py): per column, the non-null count, one count a pattern, and the
# smallest and largest number of digits after the point of fixed-point values.
STATS_COUNT = "count({column})"
STATS_MATCHES = "count(*) FILTER (WHERE regexp_full_match({column}, {pattern}))"
STATS_WIDTH = "{agg}(length({column})) FILTER (WHERE regexp_full_match({column}, {pattern}))"
STATS_MARKERS = "count(*) FILTER (WHERE trim({column}) IN ({markers}))"
# A number column's value as statistical tables write it (inference.tidy_sql): placeholders of a
# missing figure are NULL, thousands separators dropped; other values unchanged.
TIDY_NUMBER = (
    "CASE WHEN trim({column}) IN ({markers}) THEN NULL"
    " WHEN regexp_full_match({column}, {grouped}) THEN replace({column}, ',', '')"
    # a written date that is no date (2023年2月30日) is left as written: the column is then text
    " WHEN regexp_full_match({column}, {dated}) THEN coalesce(CAST(TRY_CAST("
    "regexp_replace(regexp_replace({column}, '[年月.]', '-', 'g'), '日$', '') AS DATE) AS VARCHAR), {column})"
    " ELSE {column} END"
)
STATS_SCALE = (
    "{agg}(length({column}) - strpos({column}, '.')) FILTER (WHERE strpos({column}, '.') > 0"
    " AND regexp_full_match({column}, {pattern}))"
)

# A value the sample did not foresee stops the fast pass, naming the column's position; the
# ingest then measures that column over all rows and converts again.
# The first value of a column that a type's pattern does not match (for the type-change report).
FIRST_MISFIT = (
    "SELECT {column} FROM {source} WHERE {column} IS NOT NULL"
    " AND NOT regexp_full_match({column}, {pattern}) LIMIT 1"
)

# The first value of a column that does not convert to a type, with its line (header = line 1).
FIRST_UNCONVERTIBLE = (
    "SELECT line, {column} FROM (SELECT row_number() OVER () + 1 AS line, {column} FROM {source})"
    " WHERE {column} IS NOT NULL AND NOT {fits} ORDER BY line LIMIT 1"
)
FITS_PATTERN = "regexp_full_match({column}, {pattern})"
FITS_CAST = "TRY_CAST({column} AS {type}) IS NOT NULL"

# Rows whose label says they are totals (合计, 全市...), in a stored file; {labels} are literals
# (spelling variants listed out: an IN list is a hash lookup, a regexp per row would cost ~15 %).
FIND_TOTALS = (
    "SELECT file_row_number, {column} FROM read_parquet(?, file_row_number = true)"
    " WHERE trim({column}) IN ({labels})"
    " ORDER BY file_row_number LIMIT 20"
)

GUARD_MARK = "kaifang-sample-miss"
# LIKE prefix/suffix patterns are the cheapest string tests DuckDB has (~5 % of the pass).
# An integer column must hold integers as written: DuckDB's CAST would round '4.5' to 5 and read
# '010101' as 10101, so anything but a plain integer stops the pass (naming the value).
GUARD_LEADING_ZERO = (
    "CASE WHEN {column} IS NULL THEN NULL"
    " WHEN regexp_full_match({column}, '[+-]?(0|[1-9][0-9]{{0,17}})') THEN CAST({column} AS BIGINT)"
    " ELSE error('" + GUARD_MARK + ":{index}:' || {column}) END"
)
# {digits} is '_' repeated scale + 1 times: "a point followed by more digits than the scale".
GUARD_SCALE = (
    "CASE WHEN {column} LIKE '%.{digits}%' THEN error('" + GUARD_MARK + ":{index}:')"
    " ELSE CAST({column} AS DECIMAL(18,{scale})) END"
)
# A number column whose values were tidied (inference.tidy_sql): {tidy} is that expression; a value
# the sample did not foresee ('abc') stops the pass like the other guards.
GUARD_TIDY = (
    "CASE WHEN {tidy} IS NULL THEN NULL WHEN regexp_full_match({tidy}, {pattern}) THEN CAST({tidy} AS {type})"
    " ELSE error('" + GUARD_MARK + ":{index}:' || {column}) END"
)
# The placeholders of missing figures each tidied column holds (for the load report).
MARKERS_FOUND = "list(DISTINCT trim({column}) ORDER BY trim({column})) FILTER (WHERE trim({column}) IN ({markers}))"
TIDY_RELATION = "SELECT * REPLACE ({replaced}) FROM ({inner})"
GUARD_DATE = (
    "CASE WHEN length({column}) > 10 THEN error('" + GUARD_MARK + ":{index}:')"
    " ELSE CAST({column} AS DATE) END"
)


def in_clause(count: int) -> str:
    """`count` bound placeholders for an IN list."""
    return ", ".join("?" for _ in range(count))


def struct_literal(pairs: list[tuple[str, str]]) -> str:
    """A DuckDB struct literal {'name': 'TYPE', ...} with every key and value quoted."""
    return "{" + ", ".join(f"{quote_literal(k)}: {quote_literal(v)}" for k, v in pairs) + "}"


def list_literal(items: tuple[str, ...] | list[str]) -> str:
    """A DuckDB list literal of quoted strings."""
    return "[" + ", ".join(quote_literal(item) for item in items) + "]"

# -- encoded pages (see pages.py): one JSON text per row, values made JSON-ready in SQL ---------

JSON_ROW = "to_json(struct_pack({fields}))"
# Encoding happens over the page's rows only: the inner SELECT keeps limit + 1 rows first.
ENCODE_PAGE = "SELECT {exprs} FROM ({inner}) ORDER BY {order}"
PAGE_FIELD = "__kaifang_f{index}"
STRUCT_ENTRY = "{name} := {expr}"
ISO_TIMESTAMP_EXPR = "replace(CAST({column} AS VARCHAR), ' ', {separator}) || 'Z'"
ISO_DATE_EXPR = "CAST({column} AS VARCHAR)"
FINITE_EXPR = "CASE WHEN isfinite({column}) THEN {column} END"
# The filtered total beside the page's rows, from the same scan (a page without a cursor).
WINDOW_TOTAL = "count(*) OVER ()"

# -- resident tables (see resident.py) -----------------------------------------------------------

RESIDENT_TABLE = "CREATE TABLE {table} AS SELECT * FROM read_parquet({path}, file_row_number = true)"
DROP_RESIDENT = "DROP TABLE IF EXISTS {table}"
# The rows and the mean length of a row's JSON text in a sample, to see whether the column fits.
ROW_JSON_SIZE = ("SELECT (SELECT count(*) FROM {table}), "
                 "(SELECT avg(strlen({expr})) FROM (SELECT * FROM {table} LIMIT {rows}))")
RESIDENT_ADD_JSON = "CREATE OR REPLACE TABLE {table} AS SELECT *, {expr} AS {column} FROM {table}"
MEMORY_USED = "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
PAGE_TOTAL = "__kaifang_total"

# -- chart series and map points (see charts.py, points.py) ------------------------------------

SELECT_FROM = "SELECT {exprs} FROM {scan} {where}"
# Categories ranked by their value; `r` also gives how many there are and the widest one's rows.
CHART_RANKED = (
    "WITH g AS (SELECT {key} AS k, {measure} AS v, count(*) AS n FROM {scan} {where} GROUP BY 1), "
    "r AS (SELECT k, v, n, row_number() OVER (ORDER BY v DESC NULLS LAST, k NULLS LAST) AS rk, "
    "count(*) OVER () AS total, max(n) OVER () AS widest FROM g) "
)
CHART_TOP = "{ranked}SELECT k, v, n, total, widest FROM r WHERE rk <= ? ORDER BY rk"
# The rows of every category past the cap, aggregated together (`s` is the scan).
CHART_OTHERS = "{ranked}SELECT {measure}, count(*) FROM {scan} AS s {rest}"
CHART_NOT_TOP = "NOT EXISTS (SELECT 1 FROM r WHERE r.rk <= ? AND r.k IS NOT DISTINCT FROM s.{key})"
CHART_GROUPED = "SELECT {key}, {measure}, count(*) FROM {scan} {where} GROUP BY 1 ORDER BY 1 NULLS LAST {limit}"
CHART_SAMPLE = "SELECT {exprs} FROM (SELECT {exprs} FROM {scan} {where}) {sample}"
CHART_SAMPLE_CLAUSE = "USING SAMPLE reservoir({limit} ROWS) REPEATABLE ({seed})"
BIN_START = "floor(CAST({column} AS DOUBLE) / ?) * ?"
YEAR_AS_DATE = "make_date(CAST({column} AS INTEGER), 1, 1)"
AS_TIMESTAMP = "CAST({column} AS TIMESTAMP)"
AS_DOUBLE = "CAST({column} AS DOUBLE)"
TIME_BUCKET = "date_trunc('{unit}', {moment})"  # unit: one of charts.TIME_UNITS, never user text
DECADE_BUCKET = "make_date(CAST(floor(year({moment}) / 10) * 10 AS INTEGER), 1, 1)"
MAP_IN_WORLD = "{x} BETWEEN -180 AND 180 AND {y} BETWEEN -90 AND 90"
MAP_IN_BOX = "{x} BETWEEN ? AND ? AND {y} BETWEEN ? AND ?"
MAP_CELLS = "SELECT avg({x}), avg({y}), count(*) FROM {scan} {where} GROUP BY floor({x} / ?), floor({y} / ?)"
