"""The record keys' value hashes, computed once per version file instead of once per query.

A record's key (decision 0023e, `plans.RECORD_KEY`) is `hash(xor(salt, hash(all stored
columns)))`: the inner hash depends only on the record's values, the salt is the per-dataset
secret. Hashing every column of every record on every query of conditional data cost about as
much as the rest of the query (decision 0024a). So the inner hash is written once per version, as
a *keyed copy* of the version file: the same rows, in the same order, with the same columns
and types, plus one column `KEY_COLUMN` holding `hash(all stored columns)`. Plans that need
record keys read the copy and mix the salt in (`hash(xor(salt, KEY_COLUMN))`), which gives
bit for bit the keys of the inline hash: released figures and the differencing memory do not
change.

The copy holds no secret (the salt is applied at query time), so a key rotation leaves it
valid; it is named after its version file (`<file stem>.keys.parquet`), and version files are
immutable and never reuse a name, so it is invalidated with the version. It is written under a
temp name and linked into place, like a version file (`files.publish`), so a reader sees it
whole or not at all. It is written at first use (`keyed`, called when the broker's sources are
read, before a run), so versions loaded before this change get theirs then; a version whose
copy cannot be written still answers, with the inline hash: the copy only makes queries cheaper.

Must not: be read by anything but the broker's plans (`plans.py`), nor name `KEY_COLUMN` as a
column a plan can see; the worker never sees a key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from pathlib import Path

from portal.store.connection import cursor
from portal.store.schema import StoredTable
from portal.store.sql import quote_identifier, quote_literal

KEY_COLUMN = "_kaifang_record_key"
SUFFIX = ".keys.parquet"
VALUE_HASH = "hash({columns})"  # the `{values}` of plans.RECORD_KEY, read from the file or from the copy
_building = threading.Lock()
_failed: set[Path] = set()  # copies this process could not write: not tried (nor logged) again
log = logging.getLogger(__name__)


def keyed_path(path: Path) -> Path:
    """Where the keyed copy of the version file `path` lives (whether or not it exists yet)."""
    return path.with_name(path.name.removesuffix(".parquet") + SUFFIX)


def value_hash_sql(table: StoredTable) -> str:
    """`hash(...)` of every stored column of `table`, in its schema's order."""
    return VALUE_HASH.format(columns=", ".join(quote_identifier(c.name) for c in table.columns))


def keyed(table: StoredTable) -> Path | None:
    """The keyed copy of `table`'s version file, written now if it is not there yet; None when the
    table cannot have one (a column already called `KEY_COLUMN`) or writing it failed."""
    target = keyed_path(Path(table.path))
    if target.is_file():
        return target
    if target in _failed or any(c.name == KEY_COLUMN for c in table.columns):
        return None
    with _building:  # one writer per process; another process racing is settled by os.link below
        if target.is_file():
            return target
        try:
            _write(table, target)
        except Exception:  # the copy only makes queries cheaper: answer with the inline hash
            log.warning("no keyed copy of %s; record keys are hashed per query", target.name, exc_info=True)
            _failed.add(target)
            return None
    return target


def _write(table: StoredTable, target: Path) -> None:
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}{SUFFIX}")
    source = quote_literal(str(table.path))
    # Same rows in the same order (by file row number, so the copy's row numbers are the
    # original's: the plans' order column), the same columns, then the value hash.
    statement = (f"COPY (SELECT * EXCLUDE (file_row_number), {value_hash_sql(table)} AS {quote_identifier(KEY_COLUMN)} "  # noqa: S608
                 f"FROM read_parquet({source}, file_row_number = true) ORDER BY file_row_number) "
                 f"TO {quote_literal(str(temp))} (FORMAT parquet)")
    cur = cursor()
    try:
        cur.execute(statement)
        same = cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({source}))").fetchall()  # noqa: S608
        copied = cur.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({quote_literal(str(temp))}))").fetchall()  # noqa: S608
        if copied != [*same, (KEY_COLUMN, "UBIGINT")]:
            raise OSError(f"the keyed copy of {table.path.name} does not have the version's columns")
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process wrote it first: the same bytes' meaning
            os.link(temp, target)
    finally:
        cur.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
