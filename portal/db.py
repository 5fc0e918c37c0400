"""The metadata database: engine, declarative base and the request's session.

Dataset rows never live here (they are Parquet files read by `portal.store`); this holds the
catalog, accounts and workflow records. SQLite by default, PostgreSQL in production; the schema
changes only through the Alembic migrations in `portal/migrations`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time as clock
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

try:
    import fcntl
except ImportError:  # not a POSIX system: holds on SQLite stay per process
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from flask import Flask

    from portal.core import Core

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC, as every timestamp column stores it (the default of `created_at` columns)."""
    return datetime.now(UTC).replace(tzinfo=None)


# One clock for every daily budget (docs/sessions.md, "Limits and budget"): the UTC calendar day.
# The cell ledger, the ε ledger, the public aggregates' cells and the sessions' CPU seconds all
# count in it and renew at 00:00 UTC, whatever the server's local time zone (`date.today()` would
# be local, so two budgets could renew hours apart). These read `utcnow` from this module at call
# time, so a test can move the clock for all of them at once.


def budget_day(now: datetime | None = None) -> date:
    """The day a spending at `now` (default: now) counts in."""
    return (now or utcnow()).date()


def budget_day_start(now: datetime | None = None) -> datetime:
    """00:00 UTC of the budget day of `now`, naive like the timestamp columns."""
    return datetime.combine(budget_day(now), time.min)


def seconds_to_next_budget_day(now: datetime | None = None) -> int:
    """Whole seconds until the budgets renew (for Retry-After), at least 1."""
    now = now or utcnow()
    return int((budget_day_start(now) + timedelta(days=1) - now).total_seconds()) + 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL and foreign keys so it behaves like a small server."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Last in, first out: a request takes the connection put back last, which PING_AFTER_IDLE
    # lets through without a ping; first in, first out handed out the one idle longest, so after
    # a burst had grown the pool, quiet traffic rotated through all of it and pinged (0030r).
    engine = create_engine(url, pool_size=5, max_overflow=10, pool_use_lifo=True)
    event.listen(engine, "connect", _returned)
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", lambda dbapi_connection, record, _proxy:
                 _ping_if_idle(engine.dialect, dbapi_connection, record))
    return engine


# A pooled connection is pinged (one round trip) before use only when it has lain in the pool
# longer than this. SQLAlchemy's `pool_pre_ping` pinged at every checkout, and a session checks
# a connection out again after each commit: ten pings per session cell over HTTP, each a round
# trip that waits for a core on a loaded 2-core machine (decision 0030b). A connection put back
# a moment ago was alive then; what pre-ping guards against (a server restart, an idle timeout
# of the server or of the network between) happens to connections that lay idle.
PING_AFTER_IDLE = 1.0  # seconds
_RETURNED = "kaifang.returned_at"


def _returned(_dbapi_connection, record) -> None:
    """When a connection was opened or put back (`record.info` goes with the DBAPI connection)."""
    if record is not None:
        record.info[_RETURNED] = clock.monotonic()


def _ping_if_idle(dialect, dbapi_connection, record) -> None:
    """Pre-ping, for a connection idle longer than PING_AFTER_IDLE: a failed ping makes the pool
    discard it and hand out another (SQLAlchemy's documented pessimistic disconnect handling)."""
    returned = record.info.get(_RETURNED)
    if returned is not None and clock.monotonic() - returned < PING_AFTER_IDLE:
        return
    try:
        ping = dialect.do_ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 - any failure: the pool reconnects, or raises if it cannot
        raise DisconnectionError("the pooled connection did not answer a ping") from exc
    if not ping:
        raise DisconnectionError("the pooled connection did not answer a ping")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def init_app(app: Flask | Core) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["kaifang.db"] = Database(engine, sessionmaker(engine, expire_on_commit=False))
    teardown = getattr(app, "teardown_appcontext", None)
    if teardown is not None:  # a Flask app: the request's session closes with its context
        teardown(_close_session)


def database(app: Flask | Core | None = None) -> Database:
    if app is None:
        from flask import current_app  # noqa: PLC0415 - only the web asks for "the current app"

        app = current_app
    return app.extensions["kaifang.db"]


def get_session() -> Session:
    """The session of the current request (or app context), created on first use."""
    from flask import g  # noqa: PLC0415 - a request's session: the web only

    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    from flask import g  # noqa: PLC0415

    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app: Flask | Core) -> Iterator[Session]:
    """A session for a command or a job, outside any request."""
    session = database(app).sessions()
    try:
        yield session
    finally:
        session.close()


_held_locks: dict[str, threading.Lock] = {}
_held_guard = threading.Lock()


class Held(Exception):
    """`claimed`: another thread or process holds the name."""


def _thread_lock(name: str) -> threading.Lock:
    with _held_guard:
        return _held_locks.setdefault(name, threading.Lock())


def _advisory_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def hold_file(engine: Engine, name: str) -> Path | None:
    """The file whose lock stands for `name` across the processes of a SQLite database: one per
    name in a folder beside the database file (`instance/kaifang.db.holds/`); None for another
    database, an in-memory one, or a system without `fcntl` (then the hold is per process)."""
    if engine.dialect.name != "sqlite" or fcntl is None:
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    database_file = Path(path).resolve()
    return database_file.parent / f"{database_file.name}.holds" / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"


def _open_hold_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextmanager
def held_across_processes(engine: Engine, name: str) -> Iterator[None]:
    """No other thread of this process, nor any other process of the same database, holds `name`
    meanwhile: waits until they let it go. Across processes, PostgreSQL's advisory lock; SQLite's
    an exclusive `flock` on a file beside the database (`hold_file`), which the system releases if
    the holder dies. Before that file, the hold was per process on SQLite: two gunicorn workers on
    the embedded defaults could check and remember cells of one dataset at once."""
    with _hold(engine, name, wait=True):
        yield


@contextmanager
def held_for_transaction(session: Session, name: str) -> Iterator[None]:
    """`held_across_processes` for a check and the write it allows, made in one transaction of
    `session` that the hold commits at the end of the block (and rolls back if the block raises).

    On PostgreSQL the hold is the transaction's own advisory lock (`pg_advisory_xact_lock`, let go
    by that commit), taken on the session's connection as the transaction's first statement: no
    second connection, no commit before it and no unlock after, four round trips fewer than
    `held_across_processes` in a request that holds a name once (decision 0030r). Statements after
    the lock read what the previous holder committed (PostgreSQL's default READ COMMITTED). A
    block that commits on its own lets the lock go there; do that only on the way to raising.
    Elsewhere the name is held by `held_across_processes` until the commit. Either way the
    session's transaction so far is committed first, so the wait holds no connection and, on
    SQLite (a snapshot per transaction), the reads after it see the previous holder's writes."""
    engine = session.get_bind()
    postgres = engine.dialect.name == "postgresql"
    session.commit()  # no round trip when nothing was read: a request that takes the hold first
    # On PostgreSQL, threads of this process wait for the name here, holding no connection.
    with _thread_lock(name) if postgres else held_across_processes(engine, name):
        try:
            if postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(name)})
            session.expire_all()  # objects loaded before the hold are read again in it
            yield
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def claimed(engine: Engine, name: str) -> Iterator[None]:
    """Like `held_across_processes`, but never waits: raises `Held` at once when another thread or
    process holds `name`. The claim ends with the block, or with its process: a crashed holder's
    advisory lock goes with its connection, its `flock` with its file descriptors, so nothing has
    to expire."""
    with _hold(engine, name, wait=False):
        yield


@contextmanager
def _hold(engine: Engine, name: str, *, wait: bool) -> Iterator[None]:
    """The one implementation of both: this process's lock of `name`, then the database's. On
    PostgreSQL the hold keeps one connection, outside any transaction (the advisory lock is the
    session's)."""
    lock = _thread_lock(name)
    if not lock.acquire(blocking=wait):
        raise Held(name)
    try:
        if engine.dialect.name == "postgresql":
            key = _advisory_key(name)
            with engine.connect() as connection:
                if wait:
                    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                    taken = True
                else:
                    taken = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                connection.commit()
                if not taken:
                    raise Held(name)
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()
            return
        path = hold_file(engine, name)
        if path is None:
            yield
            return
        descriptor = _open_hold_file(path)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise Held(name) from exc
            yield
        finally:
            os.close(descriptor)  # closing it lets the lock go
    finally:
        lock.release()
