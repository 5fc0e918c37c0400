"""The shared memory of released cells: differencing control across users, runs and days.

Every cell of conditional data released to anyone is remembered for its dataset(s), across versions (the
registry's `signature`) under the current disclosure key, whoever asked for it. So a second
account of the same organisation asking `count(A and not target)` after a first asked
`count(A)` gets the same snapped answer the first account would get (docs/disclosure.md).

The memory is bounded by a clock: every query advances its signature's clock by the cells it
asked (whatever their records: a function of the plans), each row is stamped with the clock at
its last use, and each query forgets, in the same commit and so inside its answer quantum
(decision 0029g), the rows stamped more than `capacity` cells ago (decision 0029y). Counting the
rows held instead made the eviction the target's: every distinct set asked is a row (a cell, or
an alias of one), so `P` and `P | target` are two rows where the ghost's world has one, and a
full memory evicted canaries in one world only (twenty-ninth round, decision 0029s). What an
eviction costs: a forgotten cell can no longer snap a near-identical set to it, so a pair of
sets that differ by one record, asked on either side of the eviction, is answered independently
and the difference of their (noisy) answers is evidence about the record again. Pushing a cell
out takes `capacity` other cells asked of that dataset, each charged to someone's daily budget,
and shows in the audit log as many near-identical or many distinct sets (`audit.py`).

Each query's cells are checked against the memory and written to it as one step, under a hold
on the dataset (a lock per process, and across processes a PostgreSQL advisory lock or, on
SQLite, a file lock: `portal.db.held_across_processes`):
two runs going on at once, or a run and a public aggregate, see each other's cells from the next
query on, not when the first of them ends. Reading a range once per run and writing at the end
let two sessions of one analyst difference a record out of `count(A)` and `count(A and not
target)` asked at the same moment (fifth round, decision 0023e).

Must not: hand a remembered cell's true size or key to anything but the broker.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, aliased

from portal.analysis.differencing import Registry, Remembered
from portal.analysis.models import MemoryClock, ReleasedCell
from portal.analysis.sketches import BUCKETS, CHECK_MASK, MARKS, PARTS, Sketch, first_part
from portal.catalog.models import utcnow
from portal.db import held_across_processes
from portal.serialise import plain


def registry(session: Session, fingerprint: str, capacity: int | None = None, *, grid: bytes = b"") -> Registry:
    """A registry over the shared memory, for one run under the key named by `fingerprint`;
    `grid` is the secret the sizes' grid is drawn from (`DisclosureKey.grid_key()`, `_scanned`).

    With `capacity`, each query that remembers new cells also evicts beyond it, in the same
    commit and so inside the query's answer quantum (decision 0029g): evicted after the run,
    only by runs that added a cell, the eviction (a count of the dataset's cells, and at
    capacity a delete) was work after the run that a one-record cell did and an empty one did
    not (twenty-fourth round)."""

    def one(id_: int, signature: str, records: int, key: str, sketch: str, released: dict[str, Any],
            stamp: int | None) -> Remembered:
        values = dict(released)
        return Remembered(signature, records, int(key), _sketch(sketch), values, id_, stored_values=dict(values),
                          stamp=stamp)

    def remembered(rows) -> list[Remembered]:
        """Each row read with the row of the cell it is an alias of (joined in the same
        statement, so the read is the same whatever the rows are, decision 0029q)."""
        found = []
        width = len(_READ)
        for row in rows:
            found.append(one(*row[:width]))
            if row[width] is not None:
                found[-1].alias_of = one(*row[width:])
        return found

    def lookup(signature: str, records: int, reach: int, table: Sketch, limit: int) -> list[Remembered]:
        low, high = _scanned(records, reach, _offset(grid, signature))
        return remembered(session.execute(_nearest(), {
            "fingerprint": fingerprint, "signature": signature, "records": records, "low": low,
            "high": high, "reach": reach, "window": WINDOW, "limit": limit,
            **{f"n{i}": int(n) for i, n in enumerate(table.counts)},
            **{f"c{i}": int(c) & CHECK_MASK for i, c in enumerate(table.checks)},
            **{f"f{i}": f for i, f in enumerate(first_part(table))}}))

    def marked(signature: str, records: int, reach: int, marks: tuple[int, ...], part: int,
               limit: int) -> list[Remembered]:
        low, high = _scanned(records, reach, _offset(grid, signature))
        return remembered(session.execute(_marked(part), {
            "fingerprint": fingerprint, "signature": signature, "records": records, "low": low,
            "high": high, "reach": reach, "limit": limit, **{f"m{i}": str(mark) for i, mark in enumerate(marks)}}))

    def exact(signature: str, records: int, key: int) -> list[Remembered]:
        return remembered(session.execute(_exact(), {
            "fingerprint": fingerprint, "signature": signature, "records": records, "key": str(key)}))

    engine = session.get_bind()

    def hold(signature: str):
        return _held(engine, signature)

    def persist(signature: str, added: list[Remembered], used: list[Remembered], ticks: int, asked: int) -> None:
        _write(engine, fingerprint, signature, added, used, ticks, capacity, asked)

    return Registry(lookup=lookup, exact=exact, hold=hold, persist=persist, marked=marked,
                    epoch=functools.partial(epoch, session, capacity))


# Cells whose spread is computed, a query cell at most: those of least `sketches.lower_bound`
# against the set (the first part's twenty counts and checks), then nearest in size, then the
# newest; a set's nearest cells are ranked among them. Taken nearest in *size*, 256 cells of the
# size of `A | target`, each holding nearly all of `A`, pushed `A` out of the target's search
# only: an exact membership test, 258 cells once, then 2 a target (thirtieth round, decision
# 0029w). By the bound, a cell one record from the set has a bound of 1, and a crowder 20 or more
# records away as small only when its records fall bucket by bucket as the set's do: simulated,
# none of 12,000 crowders built around `A` (decision 0030a); of crowders built around `A | K`
# for `d` known records `K`, none of 10,000 at `d` = 7, 0.11 % at 11, where counts alone let 26 %
# through (thirty-second round, decision 0030g). Pushing `A` out takes more cells than the
# memory holds where the ghost's own set would be snapped to it.
WINDOW = 256

# The sizes read for a set: its reach rounded out to a grid of this step, offset by a secret per
# dataset (`_scanned`), so that a set and the set plus a record read the same rows but when a
# grid line falls between them (two times in `GRID`).
GRID = 8


@functools.lru_cache(maxsize=1024)
def _offset(grid: bytes, signature: str) -> int:
    """The grid's secret offset for `signature`, from the disclosure key (`registry(grid=...)`);
    kept, since a query cell reads it five times (its nearest and four marks)."""
    return int.from_bytes(hmac.new(grid, signature.encode(), hashlib.sha256).digest()[:4], "big") % GRID


def _scanned(records: int, reach: int, offset: int) -> tuple[int, int]:
    """The sizes whose rows the search reads for a set of `records`: `records ± reach`, rounded out
    to the grid. Rows of up to `reach` records more or less are what the set can be answered like;
    but the scan sorts every row of the range (the window is ranked, not read off an index), so
    its work grows with the rows of the range, and a range ending at `records + reach` read the
    rows of exactly `|A| + 1 + reach` records for `A | target` and not for `A`: thousands of
    cells of that size, planted, made the target's query slower (the class of round 19's timing,
    decision 0028g). On the grid, the two ranges differ only when a grid line falls between the
    sizes' ends, which the secret offset hides. Rows beyond `reach` are read but never ranked
    before a row within it (their lower bound is at least their difference in size)."""
    low = (records - reach - offset) // GRID * GRID + offset
    high = -((offset - records - reach) // GRID) * GRID + offset
    return low, high


@functools.cache
def _answered_like():
    """The cell a row is an alias of, read with the row (decision 0029q). Built on first use, not
    at import: 30 ms of every `kaifang sandbox-run` (decision 0030p)."""
    return aliased(ReleasedCell, name="answered_like")


@functools.cache
def _linked():
    """The cell an alias to be stored names (`_insert`). One object for every insert: a new alias
    each time made SQLAlchemy build and compile the insert afresh, 12 ms of a query's memory
    step against 3.6 (decision 0030p)."""
    return aliased(ReleasedCell, name="linked")


# What the search reads of a row (and of the row it is an alias of): not the 140 columns of its
# table's counts, checks and first part, which rank rows inside the database only. Read as ORM
# objects with them, a query cell's five reads spent more on building objects than the database
# on finding the rows (decision 0031g).
_READ = ("id", "signature", "records", "cell_key", "sketch", "released", "used_tick")


def _read(entity, prefix: str) -> list:
    """The columns of `_READ` of `entity`, its sketch as the text stored (`_sketch` parses a table
    once per process; the driver parsed it at every read)."""
    return [(cast(getattr(entity, name), Text) if name == "sketch" else getattr(entity, name))
            .label(f"{prefix}{name}") for name in _READ]


@functools.lru_cache(maxsize=1024)
def _sketch(text: str) -> Sketch:
    """A stored table, parsed once per process: a row's table never changes once it is stored,
    and a set's search reads the same remembered rows query after query (about 8 KB each;
    1,024 of them). Frozen, so sharing one among the cells read is safe."""
    return Sketch.from_json(json.loads(text))


def _with_cell(rows: Select) -> Select:
    """`rows` (of `ReleasedCell`) as the columns the search reads (`_READ`), with those of the
    row each is an alias of (None for a cell answered on its own)."""
    cell = _answered_like()
    return (rows.with_only_columns(*_read(ReleasedCell, "row_"), *_read(cell, "cell_"), maintain_column_froms=True)
            .outerjoin(cell, cell.id == ReleasedCell.alias_of))


@functools.cache
def _exact():
    """The remembered cell of exactly a set's size and key, with the cell it is an alias of;
    one row, the first remembered (the memory holds a set once: `Registry.same` is asked first)."""
    return _with_cell(select(ReleasedCell).where(
        ReleasedCell.key_fingerprint == bindparam("fingerprint"), ReleasedCell.signature == bindparam("signature"),
        ReleasedCell.records == bindparam("records", type_=Integer), ReleasedCell.cell_key == bindparam("key"))
        .order_by(ReleasedCell.id).limit(1))


@functools.cache
def _nearest():
    """The remembered cells nearest a set, built once (its sixty terms cost milliseconds to build
    each time): among the `WINDOW` cells of least lower bound (`sketches.lower_bound`: the
    first part's counts and checks, `first_*` against `:f0`..`:f19`), then nearest in size,
    newest, those of least `sketches.spread` against the set's table (`:n0`..`:n59`,
    `:c0`..`:c59`), then nearest in size, newest. The full spread is computed for the window
    only: computed for every cell within reach, its work grew with the cells remembered near the
    set's true size, so thousands of cells planted at the edge of a target's reach slowed its
    query past the answer quantum, as round 19's search did (decision 0029a, bounded). The
    window's order costs twenty terms a row of the range, read from its index (decisions 0030a,
    0030g). A cell remembered before its counts were stored (null) is ranked by its difference
    in size, no more than its lower bound, and by three times that, no more than its spread."""
    size = func.abs(ReleasedCell.records - bindparam("records", type_=Integer))
    bound = functools.reduce(operator.add, (_bucket_bound(i) for i in range(BUCKETS)))
    window = (select(ReleasedCell.id).where(
        ReleasedCell.key_fingerprint == bindparam("fingerprint"), ReleasedCell.signature == bindparam("signature"),
        ReleasedCell.records.between(bindparam("low", type_=Integer), bindparam("high", type_=Integer)))
        .order_by(func.coalesce(bound, size), size, ReleasedCell.id.desc()).limit(bindparam("window", type_=Integer)))
    spread = functools.reduce(operator.add, (_bucket_spread(i) for i in range(PARTS * BUCKETS)))
    return _with_cell(select(ReleasedCell).where(ReleasedCell.id.in_(window), _within_reach(size))
                      .order_by(func.coalesce(spread, 3 * size), size, ReleasedCell.id.desc())
                      .limit(bindparam("limit", type_=Integer)))


def _within_reach(size):
    """The rows `size` (their difference in size from the set) keeps within the set's reach: the
    rows of the grid past it (`_scanned`) are read, and never returned in place of one within."""
    return size <= bindparam("reach", type_=Integer)


def _bucket_bound(i: int):
    """`sketches.lower_bound`'s term for bucket `i` of the first part, on its stored
    `first_{i}` (the count times 2^32 plus the check's low bits) against `:f{i}` and `:n{i}`:
    0 where both agree, 2 where the counts agree and the checks do not, else the difference of
    the counts. Read from the window's index alone (decision 0030g)."""
    first, f, n = getattr(ReleasedCell, f"first_{i}"), bindparam(f"f{i}", type_=BigInteger), bindparam(f"n{i}", type_=Integer)
    count = first.op(">>")(literal_column("32"))  # an int: PostgreSQL has no bigint >> bigint
    return case((first == f, 0), (count == n, 2), else_=func.abs(count - n))


def _bucket_spread(i: int):
    """`sketches.spread`'s term for bucket `i` against `:n{i}` and `:c{i}`: the difference
    of the counts, or 2 where they agree and the checks do not. A row whose checks were not
    stored (null) is ranked by its counts alone, as before decision 0029u."""
    count, check = getattr(ReleasedCell, f"bucket_{i}"), getattr(ReleasedCell, f"check_{i}")
    n, c = bindparam(f"n{i}", type_=Integer), bindparam(f"c{i}", type_=Integer)
    return case((and_(count == n, check != c), 2), else_=func.abs(count - n))


@functools.cache
def _marked(part: int):
    """The remembered cells with the set's mark `part` (`:m0`..`:m3`), built once per mark like
    `_nearest`: those within the set's reach first (the grid's rows past it are read too,
    `_scanned`), then those sharing most of the set's marks, nearest in size, newest. Not
    ranked by the spread (`_nearest` is): sixty differences a row for five reads a cell slowed a
    run of 180 cells past its wall clock (decision 0029a)."""
    columns = [getattr(ReleasedCell, f"mark_{i}") for i in range(MARKS)]
    size = func.abs(ReleasedCell.records - bindparam("records", type_=Integer))
    shared = sum((case((column == bindparam(f"m{i}"), 1), else_=0) for i, column in enumerate(columns)), literal(0))
    return _with_cell(select(ReleasedCell).where(
        ReleasedCell.key_fingerprint == bindparam("fingerprint"), ReleasedCell.signature == bindparam("signature"),
        columns[part] == bindparam(f"m{part}"),
        ReleasedCell.records.between(bindparam("low", type_=Integer), bindparam("high", type_=Integer)))
        .order_by(case((_within_reach(size), 0), else_=1), shared.desc(), size, ReleasedCell.id.desc())
        .limit(bindparam("limit", type_=Integer)))


@contextmanager
def _held(engine: Engine, signature: str) -> Iterator[None]:
    """No other run of this process, nor of any other process of the database, checks or
    remembers cells of `signature` meanwhile (`portal.db.held_across_processes`)."""
    with held_across_processes(engine, f"released-cells:{signature}"):
        yield


def _write(engine: Engine, fingerprint: str, signature: str, added: list[Remembered], used: list[Remembered],
           ticks: int, capacity: int | None = None, asked: int = 0) -> None:
    """One query's step of the memory, committed at once: its clock advanced by `ticks` (the
    cells the query asked, when charged), its new cells stored, the values it released for cells
    it used (and their use, when stale) written, and with `capacity` the rows last used more
    than `capacity` cells asked ago forgotten. Called under the query's hold, before its answer
    leaves, for every query: the same statements whether its sets were new, remembered or empty
    — one insert for each of the `asked` cells — but for the rows each writes (decisions 0029y,
    0030e)."""
    with engine.begin() as connection:
        _step(connection, fingerprint, signature, added, used, _advance(connection, signature, ticks), capacity,
              inserts=asked)


def _step(connection: Session | Connection, fingerprint: str, signature: str, added: list[Remembered],
          used: list[Remembered], ticks: int, capacity: int | None, *, inserts: int = 0) -> None:
    """Write the used cells whose stored row is stale (`_stale`), insert the new ones (cells
    before their aliases; an alias whose cell is not stored is dropped, `_insert`), all stamped
    `ticks`, then with `capacity` forget the rows more than `capacity` cells asked old.

    With `inserts`, make that many inserts in all, the rest inserting nothing: a cell asked adds
    a row when it is new or a set answered like a remembered cell (its alias), and none when it
    *is* a remembered set or has no records — `P | target` an alias of `P` in the target's world,
    `P` itself in the ghost's. The insert was the one statement of the memory's step that one
    world made and the other did not (twenty-ninth round, angle d; decision 0030e)."""
    now = utcnow()
    for cell in used:
        if not _stale(cell, ticks, capacity):
            continue
        released = plain(cell.values)
        connection.execute(update(ReleasedCell).where(ReleasedCell.id == cell.id)
                           .values(last_used_at=now, used_tick=ticks, released=released))
        cell.stored_values, cell.stamp = released, ticks
    made = 0
    for cell in _cells_first(added):
        if cell.alias_of is not None and cell.alias_of.id is None:
            continue  # its cell was not stored (`_insert`)
        released = plain(cell.values)
        cell.id = _insert(connection, _row(cell, fingerprint, now, ticks, released))
        made += 1
        cell.stored_values, cell.stamp = released, ticks
    for _ in range(inserts - made):
        _insert(connection, _row(Remembered(signature, 0, 0, _NOTHING, alias_of=_NO_CELL), fingerprint, now, ticks, {}))
    if capacity is not None:
        _forget_before(connection, signature, ticks - capacity)


# What an insert that stores nothing names as its cell: no row has this id, so the guarded insert
# (`_insert`) finds no cell and inserts no row, in the same statement as an alias's.
_NO_CELL = Remembered("", 0, 0, Sketch((0,) * (PARTS * BUCKETS), (0,) * (PARTS * BUCKETS), (0,) * (PARTS * BUCKETS)),
                      id=0)
_NOTHING = _NO_CELL.sketch


def _row(cell: Remembered, fingerprint: str, now, ticks: int, released: dict) -> dict:
    """The stored row of a remembered set."""
    return dict(signature=cell.signature, key_fingerprint=fingerprint, records=cell.records, cell_key=str(cell.key),
                sketch=cell.sketch.to_json(), released=released, created_at=now, last_used_at=now, used_tick=ticks,
                **_marks(cell))


def _insert(connection: Session | Connection, values: dict) -> int | None:
    """Store one remembered set; its row id, or None when the cell it is an alias of is not
    stored (or, for an insert that stores nothing, does not exist: `_NO_CELL`).

    A run keeps the cells it has read (`Registry.cells`), so it may answer a set like a cell
    that it or another run evicted since; its alias then named a row that was gone, the foreign
    key failed, and the query and the run's audit record with it — a broker error in the world
    where the eviction happened, and an eviction can hang on a record (twenty-ninth round,
    decision 0029s). Such an alias is not stored: it goes with its cell, as if evicted with it.
    One statement whatever is stored: an insert of a select, guarded by the cell's existence for
    an alias (and for an insert that stores nothing), by nothing for a cell."""
    cell = values.get("alias_of")
    statement = _insert_statement(tuple(values), cell is not None)
    stored = connection.execute(statement, {f"v_{name}": value for name, value in values.items()}).scalar()
    return int(stored) if stored is not None else None


@functools.lru_cache(maxsize=8)
def _insert_statement(names: tuple[str, ...], guarded: bool):
    """`_insert`'s statement for rows of these columns, built once: its ninety parameters cost a
    millisecond to build and key for the compiled cache at every insert (decision 0031d)."""
    columns = ReleasedCell.__table__.c
    row = select(*(bindparam(f"v_{name}", type_=columns[name].type) for name in names))
    if guarded:
        linked = _linked()
        row = row.where(select(linked.id).where(linked.id == bindparam("v_alias_of", type_=columns["alias_of"].type))
                        .exists())
    # the table, not the ORM entity: a Session given an ORM insert and a dict of parameters
    # would take it for a bulk insert of rows
    table = ReleasedCell.__table__
    return insert(table).from_select(list(names), row).returning(table.c.id)


def _cells_first(cells: list[Remembered]) -> list[Remembered]:
    """Cells answered on their own records before aliases, which name a cell by its id."""
    return sorted(cells, key=lambda cell: cell.alias_of is not None)


def _marks(cell: Remembered) -> dict[str, str | int | None]:
    """The cell's marks as the memory's indexed columns (decision 0028m), its table's counts, by
    which the search ranks it (`sketches.spread`, decision 0029a), and the cell it is an
    alias of (decision 0029q)."""
    marks = cell.sketch.marks
    return {**{f"mark_{i}": (str(marks[i]) if len(marks) == MARKS else None) for i in range(MARKS)},
            **{f"bucket_{i}": int(n) for i, n in enumerate(cell.sketch.counts)},
            **{f"check_{i}": int(c) & CHECK_MASK for i, c in enumerate(cell.sketch.checks)},
            **{f"first_{i}": f for i, f in enumerate(first_part(cell.sketch))},
            "alias_of": cell.alias_of.id if cell.alias_of is not None else None}


def _advance(connection: Session | Connection, signature: str, asked: int) -> int:
    """The memory's clock of `signature` moved on by `asked` cells; its new reading."""
    ticks = connection.scalar(update(MemoryClock).where(MemoryClock.signature == signature)
                              .values(ticks=MemoryClock.ticks + asked).returning(MemoryClock.ticks))
    if ticks is None:  # the dataset's first query (under the hold: no other run inserts it meanwhile)
        connection.execute(insert(MemoryClock).values(signature=signature, ticks=asked))
        ticks = asked
    return int(ticks)


def clock(session: Session | Connection, signature: str) -> int:
    """Cells asked of the memory of `signature` so far."""
    return int(session.scalar(select(MemoryClock.ticks).where(MemoryClock.signature == signature)) or 0)


def epoch(session: Session | Connection, capacity: int | None, signature: str) -> int:
    """Which `capacity` cells asked the clock of `signature` is in: a set asked in two epochs may
    have been forgotten between them, so its listing draw is the epoch's (`differencing._snap`)."""
    return clock(session, signature) // capacity if capacity else 0


def _forget_before(connection: Session | Connection, signature: str, horizon: int) -> int:
    """Forget the rows of `signature` last used before the clock read `horizon` (rows stored
    before the clock existed count as used at 0); their aliases go with them (the foreign key
    cascades). One statement whatever it deletes."""
    gone = connection.execute(delete(ReleasedCell).where(
        ReleasedCell.signature == signature, func.coalesce(ReleasedCell.used_tick, 0) < horizon))
    return gone.rowcount or 0


# A cell used again is written back only when it released something new for it, or when its
# stored use is this many cells asked old (at most a sixteenth of the capacity): the memory's
# order of use is kept to within that. A repeated query (a notebook re-run, the public table
# asked again) used to commit one row per cell per query (decision 0024a).
REFRESH_TICKS = 256


def _stale(cell: Remembered, ticks: int, capacity: int | None = None) -> bool:
    """Whether the stored row of a used cell must be written: its released values changed or
    its stored use is `REFRESH_TICKS` (a sixteenth of `capacity`, if less) cells asked old."""
    refresh = min(REFRESH_TICKS, max(1, capacity // 16)) if capacity else REFRESH_TICKS
    return (cell.stored_values is None or cell.stamp is None or plain(cell.values) != cell.stored_values
            or ticks - cell.stamp >= refresh)


def store(session: Session, found: Registry, *, fingerprint: str, capacity: int) -> None:
    """Add the run's cells that no query stored, refresh the cells it used (those a query wrote
    through already excepted), then forget beyond `capacity`. Part of the caller's unit of work:
    it does not commit. The clock moves on by the cells stored, for want of the cells asked.

    For a registry that writes through (`registry(...)`) there is nothing left to do, whatever
    the records: every cell was stored, and forgotten for, inside its query's answer quantum.
    This runs after the run, in the time `finished_at` and a waiting `GET` show, so none of its
    work may hang on which cells had records (decision 0029g)."""
    fresh = [cell for cell in found.added if cell.id is None]
    stale = [cell for cell in found.used if cell.id not in found.stored]
    for signature in sorted({c.signature for c in (*fresh, *stale)}):
        mine = [c for c in fresh if c.signature == signature]
        _step(session, fingerprint, signature, mine, [c for c in stale if c.signature == signature],
              _advance(session, signature, len(mine)), capacity)


def evict(session: Session | Connection, signature: str, capacity: int) -> int:
    """Forget the rows of `signature` last used more than `capacity` cells asked ago; how many
    went (aliases, which go with their cell, not counted). Rows are forgotten by the clock of
    cells asked, not by how many are held: the number held is the number of distinct sets asked,
    which is the records' business — a set and the same set plus the target are two rows with the
    target and one without, so a count of rows evicted a canary in one world only (twenty-ninth
    round, decisions 0029s, 0029y). Aliases are rows like any other and go with the cell they
    stand for (decision 0029q)."""
    return _forget_before(session, signature, clock(session, signature) - capacity)


def forget_all(session: Session) -> int:
    """Reset the memory (after a key rotation every remembered cell key is meaningless)."""
    return session.execute(delete(ReleasedCell)).rowcount or 0
