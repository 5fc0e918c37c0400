"""Automatic clustering: the stored rows of a large file are ordered so that filters prune.

A filtered page over an unordered 10 M-row file reads every row group, because every group holds
every value of every column. Ordered by the columns people filter on, each group holds few
values, and Parquet's min/max statistics let DuckDB skip the others (decision 0018c).

No one has to declare anything: from the inference sample, the conversion picks up to
`MAX_KEYS` low-cardinality columns (text with at most `MAX_VALUES` distinct values, integers and
dates spanning fewer than `MAX_VALUES`, booleans), the ones with the most values first, and
orders the rows by a Z-order (Morton) key over their *ranks*: the bits of the ranks are
interleaved, so a filter on any one of the columns, or on several, skips most row groups, not
only a filter on the first of a lexicographic order. Ranks follow the values' own order (a text
column's rank is its position among the sample's sorted values), so a row group's min/max stay
narrow. Values the sample did not see, and NULLs, share the top rank of their column: they are
kept together and stay correct, only less prunable.

The order is deterministic for a version (pages break ties by `file_row_number` of the stored
file); it is not the source order, which a file of less than `MIN_BYTES` keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from portal.store import sql
from portal.store.schema import duckdb_type

MAX_KEYS = 3
MAX_VALUES = 256
# Below this size a filtered page scans the whole file in a few ms: keep the source order.
MIN_BYTES = 32 * 1024 * 1024
_KINDS = ("text", "integer", "date", "boolean")
RANK_PREFIX = "__kaifang_rank_"


@dataclass(frozen=True)
class Key:
    """One clustering column: how its rank is computed and how many bits the rank takes."""

    column: str
    rank: str  # SQL over the typed column, 0 .. 2**bits - 1
    bits: int
    values: int


def candidates_query(columns: Sequence[tuple[str, str]], sample: str) -> str | None:
    """One SELECT over `sample` (a relation of VARCHAR columns) measuring, for each candidate
    column, its number of distinct typed values, min and max; None when there is no candidate."""
    exprs = []
    for name, kind in columns:
        if kind not in _KINDS:
            continue
        typed = sql.CLUSTER_TRY_CAST.format(column=sql.quote_identifier(name), type=duckdb_type(kind))
        exprs += [sql.CLUSTER_DISTINCT.format(value=typed), sql.CLUSTER_MIN.format(value=typed),
                  sql.CLUSTER_MAX.format(value=typed)]
    if not exprs:
        return None
    return sql.WRAP.format(exprs=", ".join(exprs), inner=sample)


def values_query(name: str, kind: str, sample: str) -> str:
    """The sorted distinct typed values of one column in `sample`, as text."""
    typed = sql.CLUSTER_TRY_CAST.format(column=sql.quote_identifier(name), type=duckdb_type(kind))
    return sql.CLUSTER_VALUES.format(value=typed, inner=sample)


def choose(columns: Sequence[tuple[str, str]], measured: tuple) -> list[tuple[str, str, object, object, int]]:
    """The columns worth clustering by, most distinct values first: (name, kind, min, max, n)."""
    chosen = []
    found = iter(measured)
    for name, kind in columns:
        if kind not in _KINDS:
            continue
        count, low, high = next(found), next(found), next(found)
        if count is None or count < 2:
            continue
        if kind == "text" and count > MAX_VALUES:
            continue
        if kind in ("integer", "date") and _span(kind, low, high) >= MAX_VALUES:
            continue
        chosen.append((name, kind, low, high, count))
    chosen.sort(key=lambda c: -c[4])  # stable: ties keep the column order
    return chosen[:MAX_KEYS]


def chosen_keys(cur, columns: Sequence[tuple[str, str]], sample: str) -> list[Key]:
    """The Z-order keys of the columns (name, kind) measured on `sample`, a relation of their
    values (a file's first rows); none when no column qualifies. Raises duckdb.Error."""
    query = candidates_query(columns, sample)
    if query is None:
        return []
    measured = cur.execute(query).fetchone()
    keys = []
    for name, kind, low, high, _ in choose(columns, measured):
        values = ()
        if kind == "text":
            values = [row[0] for row in cur.execute(values_query(name, kind, sample)).fetchall()]
        keys.append(key_for(name, kind, low, high, values))
    return keys


def key_for(name: str, kind: str, low: object, high: object, values: Sequence[str] = ()) -> Key:
    """The rank of one chosen column (`values`: its sorted sample values, for text)."""
    column = sql.quote_identifier(name)
    if kind == "text":
        enum = sql.CLUSTER_ENUM.format(values=", ".join(sql.quote_literal(v) for v in values))
        top = len(values)
        rank = sql.CLUSTER_TEXT_RANK.format(column=column, enum=enum, top=top)
    elif kind == "boolean":
        top = 2
        rank = sql.CLUSTER_BOOL_RANK.format(column=column)
    else:
        top = _span(kind, low, high) + 1
        offset = (sql.CLUSTER_DATE_OFFSET if kind == "date" else sql.CLUSTER_INT_OFFSET).format(
            column=column, low=sql.quote_literal(str(low)) if kind == "date" else int(low))
        rank = sql.CLUSTER_OFFSET_RANK.format(offset=offset, top=top)
    return Key(name, rank, max(1, top.bit_length()), top)


def morton(keys: Sequence[Key]) -> str:
    """The Z-order key: the ranks' bits interleaved, most significant first. Each rank is
    spread onto its bit positions by a lookup in a constant list (one `list_extract` a column
    instead of a shift, a mask and a shift for every bit)."""
    # most significant bits first, aligned on each rank's top bit: the first splits halve every
    # column, so a column with few values prunes as well as one with many
    order = [(i, k.bits - 1 - level) for level in range(max(k.bits for k in keys))
             for i, k in enumerate(keys) if level < k.bits]
    positions: dict[int, dict[int, int]] = {i: {} for i in range(len(keys))}
    for n, (i, bit) in enumerate(order):
        positions[i][bit] = len(order) - 1 - n
    terms = []
    for i, key in enumerate(keys):
        spread = [sum(1 << positions[i][bit] for bit in range(key.bits) if rank >> bit & 1)
                  for rank in range(1 << key.bits)]
        terms.append(sql.CLUSTER_SPREAD.format(
            spread=", ".join(map(str, spread)), rank=sql.quote_identifier(f"{RANK_PREFIX}{i}")))
    return " + ".join(terms)


def ordered_select(names: Sequence[str], select: str, source: str, keys: Sequence[Key]) -> str:
    """`SELECT names FROM (typed rows plus ranks) ORDER BY <Z-order key>`."""
    ranks = [sql.ALIAS.format(expr=k.rank, column=sql.quote_identifier(f"{RANK_PREFIX}{i}"))
             for i, k in enumerate(keys)]
    return sql.CLUSTER_SELECT.format(
        names=", ".join(sql.quote_identifier(n) for n in names), ranks=", ".join(ranks),
        select=select, source=source, key=morton(keys))


def _span(kind: str, low: object, high: object) -> int:
    if kind == "date":
        return (high - low).days
    return int(high) - int(low)
