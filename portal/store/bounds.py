"""Clamping a stored version's numeric columns to the bounds its data dictionary declares.

Conditional data is analysed by interval arithmetic on publisher-declared bounds
(docs/disclosure.md): the validator refuses, before running, any plan whose computation could
overflow or go non-finite *within those bounds*. That is only true if no stored value lies
outside them, so a conditional version is clamped once, at ingest, and the number of clamped
values per column is reported back for the version record (so a publisher sees when the bounds
they declared cut real values). Missing values stay missing.

Must not: decide which datasets need bounds (the catalog does) or read bounds from anywhere but
its caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from portal.store import files
from portal.store.connection import cursor
from portal.store.ingestion import IngestResult
from portal.store.schema import duckdb_type
from portal.store.sql import CLAMP, quote_identifier, quote_literal

Bounds = Mapping[str, tuple[float, float]]
COPY_CLAMPED = "COPY (SELECT {select} FROM read_parquet({source})) TO {target} (FORMAT parquet, COMPRESSION zstd)"
OUTSIDE = "count(*) FILTER (WHERE {col} < ? OR {col} > ?)"


def clamp(result: IngestResult, bounds: Bounds) -> tuple[IngestResult, dict[str, int]]:
    """The version with every bounded numeric column clamped into [minimum, maximum], and the
    number of values that were clamped per column (columns with none are left out).

    The rows keep their order (the file row number is the record's identity for cell keys). A
    version with nothing outside its bounds is returned as it is, without rewriting the file.
    """
    bounded = [c for c in result.columns if c.name in bounds]
    counts = _outside(result.path, bounded, bounds)
    if not counts:
        return result, {}
    select, params = [], []
    for column in result.columns:
        name = quote_identifier(column.name)
        if column.name in counts:
            select.append(f"{CLAMP.format(value=name, type=duckdb_type(column.type))} AS {name}")
            params += list(bounds[column.name])
        else:
            select.append(name)
    target = files.temp_path(result.path.parent, ".parquet")
    try:
        with cursor() as cur:
            cur.execute(COPY_CLAMPED.format(select=", ".join(select), source=quote_literal(str(result.path)),
                                            target=quote_literal(str(target))), params)
        final = files.publish(target, result.path.parent, result.checksum)
    finally:
        files.remove_quietly(target if target.exists() else None)
    result.path.unlink()
    return replace(result, path=final, byte_size=final.stat().st_size), counts


def _outside(path: Path, columns: list, bounds: Bounds) -> dict[str, int]:
    if not columns:
        return {}
    exprs, params = [], []
    for column in columns:
        exprs.append(OUTSIDE.format(col=quote_identifier(column.name)))
        params += list(bounds[column.name])
    with cursor() as cur:
        found = cur.execute(f"SELECT {', '.join(exprs)} FROM read_parquet({quote_literal(str(path))})",  # noqa: S608
                            params).fetchone()
    return {c.name: int(n) for c, n in zip(columns, found, strict=True) if n}
