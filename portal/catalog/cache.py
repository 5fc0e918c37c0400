"""A per-process cache of resolved catalog records, dropped whenever the catalog changes.

A dataset version is immutable, but which version is current, a dataset's metadata and its open
class can change. Every catalog write bumps one `catalog_generation` counter row in the same
transaction (SQLAlchemy events below, so no write path can forget it). Each process reads that
row at most once per `check_seconds` and drops its cache when it moved; a write in this process
drops its own cache at commit. So another worker serves a stale record for at most
`CATALOG_CACHE_SECONDS` (default 1 s), and this one never does.

The cache is keyed by engine (one per app), so several apps in one process never share entries.
It holds plain frozen values (never ORM objects, which belong to one session).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.catalog.models import Counter, Dataset, Department, Field, Tag, Theme, Version

GENERATION = "catalog_generation"
CATALOG_MODELS = (Dataset, Department, Field, Tag, Theme, Version)
MAX_ENTRIES = 4096
T = TypeVar("T")


class CatalogCache:
    """Values computed from the catalog, valid while the catalog generation stays the same."""

    def __init__(self, check_seconds: float = 1.0) -> None:
        self.check_seconds = check_seconds
        self._entries: dict[Hashable, object] = {}
        self._generation: int | None = None
        self._checked = float("-inf")
        self._epoch = 0  # bumped on every clear, so a load that raced a clear is not stored
        self._lock = threading.Lock()

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value for `key`, or `load()` stored for next time."""
        self._refresh(session)
        try:
            return self._entries[key]  # type: ignore[return-value]
        except KeyError:
            pass
        epoch = self._epoch
        value = load()
        with self._lock:
            if epoch == self._epoch:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
            self._epoch += 1
            self._checked = float("-inf")

    def _refresh(self, session: Session) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_seconds:
            return
        generation = session.scalar(select(Counter.value).where(Counter.name == GENERATION)) or 0
        with self._lock:
            if generation != self._generation:
                self._entries = {}
                self._epoch += 1
                self._generation = generation
            self._checked = now


_caches: weakref.WeakKeyDictionary[Engine, CatalogCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def configure(engine: Engine, *, check_seconds: float) -> CatalogCache:
    """Create the cache of `engine`'s catalog (called once per app)."""
    with _caches_lock:
        cache = _caches[engine] = CatalogCache(check_seconds)
    return cache


def cache_for(session: Session) -> CatalogCache:
    """The cache of the catalog this session talks to."""
    engine = session.get_bind()
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(engine, CatalogCache())
    return cache


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()` once per catalog generation (see the module docstring)."""
    return cache_for(session).get(session, key, load)


def bump_generation(session: Session) -> None:
    """Move the catalog generation, in the session's transaction (other processes see it at commit)."""
    connection = session.connection()
    moved = connection.execute(update(Counter.__table__).where(Counter.__table__.c.name == GENERATION)
                               .values(value=Counter.__table__.c.value + 1))
    if moved.rowcount == 0:
        connection.execute(insert(Counter.__table__).values(name=GENERATION, value=1))
    session.info["catalog_changed"] = True


def _touches_catalog(session: Session) -> bool:
    return any(isinstance(obj, CATALOG_MODELS) for obj in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    if _touches_catalog(session) and not session.info.get("catalog_bumped"):
        session.info["catalog_bumped"] = True
        bump_generation(session)


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state) -> None:
    """UPDATE/DELETE statements on catalog tables (e.g. counts) change the catalog too."""
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and issubclass(mapper.class_, CATALOG_MODELS):
        if not state.session.info.get("catalog_bumped"):
            state.session.info["catalog_bumped"] = True
            bump_generation(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop("catalog_bumped", None)
    if session.info.pop("catalog_changed", False):
        cache_for(session).clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("catalog_bumped", None)
    session.info.pop("catalog_changed", None)
