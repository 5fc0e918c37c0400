"""Column types of stored tables and the plain records the catalog passes in and gets back.

The seven portable type names (plus `geometry`, GeoJSON kept as text) are the store's vocabulary;
`duckdb_type` is the only place they are mapped onto DuckDB's types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.store.errors import StoreError

TYPES = ("integer", "float", "decimal", "boolean", "date", "timestamp", "text", "geometry")

DECIMAL_PRECISION = 18

_DUCKDB_TYPES = {
    "integer": "BIGINT",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "text": "VARCHAR",
    "geometry": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    """One column of a stored table: its name and portable type (one of `TYPES`)."""

    name: str
    type: str


@dataclass(frozen=True)
class PersonCap:
    """Whose records these are (`column`, read even when a grant's scope hides it), how many of
    one person's records a plan may use (`cap`), and the secret salt of the key that picks them."""

    column: str
    cap: int
    salt: int


@dataclass(frozen=True)
class StoredTable:
    """What the catalog hands back in: a version's Parquet file and its typed schema."""

    path: Path
    columns: tuple[Column, ...]
    # Declared (minimum, maximum) per numeric column: plans read such columns clamped into them,
    # so interval arithmetic on the bounds holds for every value (see portal/store/bounds.py).
    bounds: tuple[tuple[str, float, float], ...] = ()
    # A grant's scope, for plans (portal/store/plans.py): the only columns they may read (None:
    # all), and row filters (`queries.Filter`) ANDed under every read of the file.
    visible: tuple[str, ...] | None = None
    row_filter: tuple = ()
    # The version file's keyed copy (`record_keys.keyed`): plans that need record keys read it
    # instead of `path`, for the value hash it holds; None: they hash the values per query.
    keyed: Path | None = None
    # The ε mode's per-person bound (decision 0030t): plans keep at most `cap` records per value of
    # `column` at their aggregation's input; None: every record is a person of its own.
    per_person: PersonCap | None = None

    def files(self) -> tuple[str, ...]:
        """Every file plans over this table may read (for a confined connection's allowed paths)."""
        return (str(self.path),) + ((str(self.keyed),) if self.keyed is not None else ())

    def column(self, name: str) -> Column | None:
        """The column called `name`, or None."""
        for column in self.columns:
            if column.name == name:
                return column
        return None


def check_type(name: str) -> str:
    """Return `name` if it is a known type.

    Raises:
        StoreError: `unknown-type`.
    """
    if name not in TYPES:
        raise StoreError("unknown-type", f"unknown column type {name!r}; known: {', '.join(TYPES)}")
    return name


def duckdb_type(type_name: str, *, scale: int = 2) -> str:
    """The DuckDB type that stores `type_name` (decimals need their scale)."""
    if type_name == "decimal":
        return f"DECIMAL({DECIMAL_PRECISION},{scale})"
    return _DUCKDB_TYPES[type_name]


def type_from_duckdb(duck: str) -> str:
    """The portable type of a DuckDB column type (used when reading a Parquet schema back)."""
    duck = duck.upper()
    if duck.startswith("DECIMAL"):
        return "decimal"
    if duck in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}:
        return "integer"
    if duck in {"DOUBLE", "FLOAT", "REAL"}:
        return "float"
    if duck == "BOOLEAN":
        return "boolean"
    if duck == "DATE":
        return "date"
    if duck.startswith("TIMESTAMP"):
        return "timestamp"
    return "text"
