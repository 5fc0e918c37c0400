"""Which stored values of some columns appear, verbatim, inside a piece of text.

The catalog shows a conditional version's note, its source file's name and the dataset's
descriptions to everyone, and none of them is disclosure controlled: they are the publisher's
words. A note such as "P9999's income corrected to 52,000" publishes a record. Nothing can stop
a publisher writing it, but the load can warn: this finds the values of the given columns (its
caller passes the identifier and sensitive ones) that occur in the text, one scan of the version
per column. Short values (under `MIN_LENGTH` characters) are not looked for: "12" is in every date.
A value is looked for as DuckDB writes it (`CAST(... AS VARCHAR)`, 52000) and, for a number, with
its thousands grouped (`format('{:,}', ...)`, 52,000), as a note would write it; not "5.2万".
"""

from __future__ import annotations

from pathlib import Path

from portal.store.connection import cursor
from portal.store.sql import quote_identifier, quote_literal

MIN_LENGTH = 4
SHOWN = 3  # values named per column


def values_in_text(path: Path, columns: list[str], text: str) -> dict[str, list[str]]:
    """{column: up to `SHOWN` of its distinct values found in `text`} for the columns with any."""
    if not columns or not text.strip():
        return {}
    found: dict[str, list[str]] = {}
    with cursor() as cur:
        for name in columns:
            column = quote_identifier(name)
            # `format` gives text and dates back as they are: only numbers get a second spelling.
            sql = (f"SELECT DISTINCT v FROM (SELECT CAST({column} AS VARCHAR) AS v, "  # noqa: S608 - quoted
                   f"TRY(format('{{:,}}', {column})) AS grouped FROM read_parquet({quote_literal(str(path))})) "
                   f"WHERE (length(v) >= {MIN_LENGTH} AND strpos($text, v) > 0) "
                   f"OR (grouped <> v AND strpos($text, grouped) > 0) ORDER BY v LIMIT {SHOWN}")
            rows = cur.execute(sql, {"text": text}).fetchall()
            if rows:
                found[name] = [row[0] for row in rows]
    return found
