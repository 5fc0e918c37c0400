"""Turning DuckDB's CSV reader errors into the store's IngestError codes.

DuckDB reports the record number ("CSV Error on Line: N", header = line 1; a quoted field with
line breaks counts once) and the shape of the problem in English text. We keep the number and
re-word the problem, so callers see the same codes and messages whatever reader found it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.store.errors import IngestError
from portal.store.sql import GUARD_MARK

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CONVERT = re.compile(
    r'converting column "(.*?)"\. Could not convert string "(.*?)" to \'?([A-Z0-9(),]+)', re.S
)


@dataclass(frozen=True)
class Conversion:
    """A value the typed read could not convert: where it was and what it was."""

    line: int | None
    column: str | None
    value: str | None
    target: str | None


# `(?!')`: not the guard's own SQL text, which DuckDB echoes under some errors.
_MISS = re.compile(re.escape(GUARD_MARK) + r":(\d+):(?!')([^\n]*)")


def missed_column(exc: Exception) -> int | None:
    """The position of the column whose guard fired in the fast pass, if one did."""
    found = _MISS.search(str(exc))
    return int(found.group(1)) if found else None


def missed_value(exc: Exception) -> str | None:
    """The value that fired a guard, when the guard names it (the leading-zero guard does)."""
    found = _MISS.search(str(exc))
    return found.group(2) if found and found.group(2) else None


def declared_conflict(problem: Conversion, declared: str) -> IngestError:
    """A value that does not fit a declared type as written (`010101` or `4.5` as an integer)."""
    error = type_conflict(problem, declared)
    value = problem.value or ""
    if declared == "integer" and value[:1] == "0" and value.isdigit():
        error.message += ": its leading zero would be lost; declare the column a string"
        error.args = (error.message,)
    return error


def conversion(exc: Exception) -> Conversion | None:
    """The conversion problem described by `exc`, if it is one."""
    text = str(exc)
    found = _CONVERT.search(text)
    if not found and "Conversion Error" not in text and "Could not convert" not in text:
        return None
    line = _line(text)
    if not found:
        return Conversion(line, None, None, None)
    return Conversion(line, found.group(1), found.group(2), found.group(3))


def type_conflict(problem: Conversion, wanted: str) -> IngestError:
    """The error for a value that does not fit the type a column must have."""
    where = f"line {problem.line}" if problem.line else "a line"
    return IngestError(
        "type-conflict",
        f"{where}: column {problem.column!r} should be {wanted} but has {problem.value!r}",
        line=problem.line,
        column=problem.column,
    )


def reader_error(exc: Exception) -> IngestError:
    """The IngestError for any other failure of DuckDB's CSV reader."""
    text = str(exc)
    line = _line(text)
    where = f"line {line}: " if line else ""
    counts = _COUNTS.search(text)
    if counts:
        expected, found = counts.groups()
        return IngestError(
            "ragged-row", f"line {line} has {found} fields, expected {expected}", line=line
        )
    if "No space left" in text:
        return IngestError("disk-full", "the destination disk is full")
    if "Invalid unicode" in text:
        return IngestError("undecodable", f"{where}the bytes are not valid UTF-8", line=line)
    if "unterminated quote" in text:
        return IngestError("unterminated-quote", f"{where}a quoted value never ends", line=line)
    if "Maximum line size" in text:
        return IngestError("line-too-long", f"{where}the line is longer than 16 MB", line=line)
    first = text.splitlines()[0] if text else type(exc).__name__
    return IngestError("unreadable-csv", f"{where}{first}", line=line)


def _line(text: str) -> int | None:
    found = _LINE.search(text)
    return int(found.group(1)) if found else None
