"""What the columns of a delimited source hold, measured by DuckDB before it is converted.

The conversion (`conversion.py`) decides types from these measures: the inference statistics of
each column over a sample of rows, or over every row when the sample missed (`column_stats`);
the check that line 1 is a header; and the columns that are numbers or dates once the habits of
statistical tables are read as such (`tidy`: placeholders of missing figures, thousands
separators, dates written 2023年1月5日; decision 0025c). Every measure reads the file as text
(`text_read`), so what is measured is what the publisher wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb

from portal.store import csverrors, inference, sql
from portal.store.connection import cursor
from portal.store.errors import IngestError

if TYPE_CHECKING:
    from portal.store.conversion import CsvSource, Typing

SAMPLE_ROWS = 20_000


def read_sql(source: CsvSource, types: list[tuple[str, str]]) -> str:
    """DuckDB's read of `source` with the given (column, type) pairs."""
    return sql.READ_CSV.format(
        path=sql.quote_literal(str(source.path)),
        columns=sql.struct_literal(types),
        delim=sql.quote_literal(source.delimiter),
        nulls=sql.list_literal(sql.CSV_NULLS),
        compression="'gzip'" if source.gzip else "'none'",
        max_line=source.max_line,
    )


def text_read(source: CsvSource) -> str:
    """Every column of `source` as written (VARCHAR)."""
    return read_sql(source, [(n, "VARCHAR") for n in source.header])


def relation(source: CsvSource, *, sample: bool) -> str:
    """The source as written: its first SAMPLE_ROWS rows, or all of them."""
    text = text_read(source)
    return sql.SAMPLE.format(source=text, rows=SAMPLE_ROWS) if sample else sql.SCAN_ALL.format(source=text)


def column_stats(source: CsvSource, names: Sequence[str], *, sample: bool,
                 tidy: Sequence[str] = ()) -> list[inference.ColumnStats]:
    """Inference measures of `names`, over a sample of rows or over all of them; those of `tidy`
    measured on their tidied values (`inference.tidy_sql`)."""
    measured = relation(source, sample=sample)
    if tidy:
        replaced = ", ".join(f"{inference.tidy_sql(sql.quote_identifier(n))} AS {sql.quote_identifier(n)}" for n in tidy)
        measured = sql.TIDY_RELATION.format(replaced=replaced, inner=measured)
    cur = cursor()
    try:
        row = cur.execute(inference.stats_query(list(names), measured)).fetchone()
    except duckdb.Error as exc:
        raise csverrors.reader_error(exc) from exc
    finally:
        cur.close()
    return inference.parse_stats(list(names), row)


def check_header(header: tuple[str, ...], stats: list[inference.ColumnStats]) -> None:
    """Refuse a first line that reads like the rows below it (every typed column agrees)."""
    typed = [(name, inference.infer(s).type) for name, s in zip(header, stats, strict=True)]
    typed = [(name, t) for name, t in typed if t != "text"]
    if typed and all(inference.matches_type(name, t) for name, t in typed):
        raise IngestError(
            "no-header",
            "line 1 looks like data, not column names: the file needs a header line",
            line=1,
        )


def infer_column(name: str, stat: inference.ColumnStats, typing: Typing, *, measure: bool = False) -> inference.Inferred:
    """The inferred type of column `name`, its name read for codes and measures. `measure`: the
    values say the column is a quantity (thousands separators), whatever its name."""
    return inference.infer(stat, code_name=inference.is_code_name(name, typing.code_words),
                           measure_name=measure or inference.is_measure_name(name))


def tidy(source: CsvSource, stats: dict[str, inference.ColumnStats], names: Sequence[str], typing: Typing, *,
         sample: bool) -> dict[str, inference.TidiedColumn]:
    """The columns of `names` that are numbers or dates once placeholders of missing figures are
    read as missing, thousands separators dropped and dates written 2023年1月5日 read as dates
    (`inference.tidy_sql`); their measures in `stats` are replaced by those of the tidied values.
    Declared types are never tidied."""
    candidates = [n for n in names
                  if n not in typing.overrides and inference.needs_tidying(stats[n], infer_column(n, stats[n], typing))]
    if not candidates:
        return {}
    measured = dict(zip(candidates, column_stats(source, candidates, sample=sample, tidy=candidates), strict=True))
    kept = [n for n in candidates
            if inference.tidied_number(measured[n], infer_column(n, measured[n], typing, measure=stats[n].grouped > 0))]
    if not kept:
        return {}
    found = _markers_found(source, kept, sample=sample)
    out = {}
    for name in kept:
        grouped = stats[name].grouped > 0  # counted on the values as written
        dated = stats[name].written_dates > 0
        stats[name] = measured[name]
        out[name] = inference.TidiedColumn(name, infer_column(name, measured[name], typing, measure=grouped).type,
                                           found[name], grouped, dated)
    return out


def _markers_found(source: CsvSource, names: list[str], *, sample: bool) -> dict[str, tuple[str, ...]]:
    """The placeholders of missing figures each column holds, in the rows measured (the report's)."""
    query = sql.WRAP.format(exprs=", ".join(inference.markers_found_sql(sql.quote_identifier(n)) for n in names),
                            inner=relation(source, sample=sample))
    cur = cursor()
    try:
        row = cur.execute(query).fetchone()
    finally:
        cur.close()
    return {name: tuple(found or ()) for name, found in zip(names, row, strict=True)}
