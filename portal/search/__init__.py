"""Catalog search on Whoosh: the only package that opens the index (see docs/search.md).

The catalog calls `portal.catalog.outbox.enqueue(session, dataset_id)` inside the transaction of every change to a
dataset; after that transaction commits, this package applies the change to the index before
the caller continues. `init_app` attaches the engine to the app's sessions.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from portal.catalog.outbox import PENDING, SearchOutbox
from portal.search.engine import INFO_KEY, SearchEngine, engine_of

log = logging.getLogger(__name__)
COUNTS_EVERY = 12  # timer ticks between syncs of view/download counts (1 minute by default)


def init_app(app: Flask) -> None:
    from portal.db import database

    sessions = database(app).sessions
    synonyms = app.config["SEARCH_SYNONYMS"]
    engine = SearchEngine(Path(app.config["SEARCH_DIR"]), sessions,
                          synonyms=Path(synonyms) if synonyms else None,
                          lock_timeout=float(app.config["SEARCH_LOCK_TIMEOUT"]),
                          background=app.config["SEARCH_BACKGROUND_REBUILD"])
    sessions.configure(info={INFO_KEY: engine})
    event.listen(sessions, "after_commit", _after_commit)
    app.extensions[INFO_KEY] = engine
    interval = app.config["SEARCH_DRAIN_INTERVAL"]
    if interval > 0 and not app.testing:
        app.before_request(_drain_timer_starter(engine, interval))


def _drain_timer_starter(found: SearchEngine, interval: int):
    """A before-request hook that starts the drain timer at the first request a process serves.
    Started with the app, the timer also ran inside commands: `kaifang init` builds the app before
    it migrates, so on a fresh instance a tick that came before the migration read a
    `search_outbox` table that did not exist yet and logged "no such table: search_outbox" (and
    `kaifang load` on an instance not yet initialised did the same). A timer started at the
    first request also runs in each gunicorn worker, where one started before the fork would not."""
    started: list[threading.Thread] = []
    guard = threading.Lock()

    def start() -> None:
        if started:
            return
        with guard:
            if not started:
                started.append(threading.Thread(target=_drain_forever, args=(found, interval), name="search-drain",
                                                daemon=True))
                started[0].start()

    return start


def engine(app: Flask) -> SearchEngine:
    return app.extensions[INFO_KEY]


def prepare(app: Flask) -> None:
    """At `kaifang init`: make sure an index exists, built from whatever the database holds."""
    index = engine(app).index
    index.folder.mkdir(parents=True, exist_ok=True)
    if not any(index.folder.glob("_*.toc")):
        index.rebuild()  # a new instance: nothing to lose, build it now
    elif index.open(background=False) != "ready":
        raise RuntimeError(f"could not build the search index at {index.folder}")


def pending_changes(session: Session) -> int:
    return session.scalar(select(func.count(SearchOutbox.id))) or 0


def _after_commit(session: Session) -> None:
    if not session.info.pop(PENDING, False):
        return
    found = engine_of(session)
    if found is None:
        return
    try:
        found.drain()
    except Exception:  # the catalog change is committed; the outbox keeps it for the next drain
        log.exception("applying catalog changes to the search index failed")


def _drain_forever(found: SearchEngine, interval: int) -> None:
    stop, tick = threading.Event(), 0
    while not stop.wait(interval):
        tick += 1
        try:
            found.drain()
            if tick % COUNTS_EVERY == 0:
                found.index.sync_counts()
        except Exception:  # keep the timer alive; the next tick tries again
            log.exception("draining the search outbox failed")
