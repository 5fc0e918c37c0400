"""The shape of a delimited text file: its delimiter and its header line.

The delimiter is chosen among `,` `\\t` `;` `|` by parsing the first lines of the sample with each
candidate and keeping the one that splits the most lines into the same number (> 1) of fields;
a `.tsv` name only breaks ties. Column names are the first line's fields, trimmed; they must be
non-empty and unique ignoring case (DuckDB, like SQL, treats `Name` and `name` as one column).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from portal.store.errors import IngestError

DELIMITERS = (",", "\t", ";", "|")
SNIFF_LINES = 200
RESERVED = "file_row_number"  # DuckDB's row-number column; the stable tie-breaker of every sort


@dataclass(frozen=True)
class Dialect:
    """The delimiter and the header fields of a delimited file."""

    delimiter: str
    header: tuple[str, ...]


def sniff(text: str, *, prefer_tab: bool = False) -> Dialect:
    """The dialect of a file whose first bytes decode to `text`.

    Raises:
        IngestError: `empty-file`, `empty-column-name`, `duplicate-column`.
    """
    if not text.strip():
        raise IngestError("empty-file", "the file is empty")
    order = ("\t", ",", ";", "|") if prefer_tab else DELIMITERS
    scored = [(_score(text, delim), -i, delim) for i, delim in enumerate(order)]
    best = max(scored)
    delimiter = best[2] if best[0] > (0, 0) else ","
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = tuple(field.strip() for field in first)
    check_names(header)
    return Dialect(delimiter, header)


def sniff_delimiter(text: str, *, prefer_tab: bool = False) -> str:
    """The delimiter of a file whose first bytes decode to `text`.

    Raises:
        IngestError: `empty-file`.
    """
    if not text.strip():
        raise IngestError("empty-file", "the file is empty")
    order = ("\t", ",", ";", "|") if prefer_tab else DELIMITERS
    scored = [(_score(text, delim), -i, delim) for i, delim in enumerate(order)]
    best = max(scored)
    return best[2] if best[0] > (0, 0) else ","


def header_of(text: str, delimiter: str) -> tuple[str, ...]:
    """The column names on the first line of `text`, checked.

    Raises:
        IngestError: `empty-column-name`, `duplicate-column`, `reserved-column`.
    """
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = tuple(field.strip() for field in first)
    check_names(header)
    return header


def _score(text: str, delimiter: str) -> tuple[float, int]:
    """(share of lines with the usual field count, that count) when the count is above one."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    counts = []
    try:
        for row in reader:
            if row:
                counts.append(len(row))
            if len(counts) >= SNIFF_LINES:
                break
    except csv.Error:
        return (0, 0)
    if not counts:
        return (0, 0)
    usual, hits = Counter(counts).most_common(1)[0]
    if usual < 2:
        return (0, 0)
    return (hits / len(counts), usual)


def check_names(names: tuple[str, ...] | list[str]) -> None:
    """Refuse empty or repeated column names.

    Raises:
        IngestError: `empty-column-name` or `duplicate-column`, naming the column.
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise IngestError(
                "empty-column-name", f"line 1: column {position} has no name", line=1,
                column=str(position),
            )
        key = name.casefold()
        if key == RESERVED:
            raise IngestError(
                "reserved-column", f"line 1: column {position} may not be called {name!r}",
                line=1, column=name,
            )
        if key in seen:
            raise IngestError(
                "duplicate-column",
                f"line 1: column {position} {name!r} repeats column {seen[key]}",
                line=1,
                column=name,
            )
        seen[key] = position
