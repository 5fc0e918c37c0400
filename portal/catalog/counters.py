"""View, download and API-call counts, kept off the request path.

A request only adds to an in-memory tally (a dict under a lock, no I/O). A daemon thread of
each process writes the tallies every `COUNTS_FLUSH_SECONDS` in one transaction of atomic
`value = value + n` updates, so any number of workers can flush without losing a count, and the
last tallies are written at interpreter exit. What a crash (kill -9) can lose is at most one
interval of counts; a read never waits on a database write.

A forked child starts with an empty tally (the parent's pending counts are the parent's to write).

Views count once per visitor, dataset and day: a view arrives as a mark (a keyed digest of day,
visitor and dataset, see visits.py); the flush inserts the marks the table does not have yet and
counts only those, so sorting, filtering and paging a preview, or a second worker, add nothing.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections import Counter as Tally
from datetime import date, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.catalog.models import Counter, Dataset, ViewMark

log = logging.getLogger(__name__)

VIEW, DOWNLOAD, API_CALL = "view", "download", "api-call"
COLUMNS = {VIEW: Dataset.view_count, DOWNLOAD: Dataset.download_count}


class CountBuffer:
    """Tallies of one database, written in batches by a background thread."""

    def __init__(self, engine: Engine, interval: float) -> None:
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.interval = interval
        self._tally: Tally[tuple[str, str]] = Tally()
        self._marks: dict[str, tuple[str, date]] = {}  # digest -> (slug, day), not yet written
        self._seen: set[str] = set()  # digests this process has already passed on (reset daily)
        self._seen_day: date | None = None
        self._lock = threading.Lock()
        # One flush at a time, held from taking the tallies to their commit: a flush that found
        # the buffer already taken by the timer's flush must wait for that write, or a caller of
        # flush_all() would read the database before the counts it just made were in it.
        self._flushing = threading.Lock()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, kind: str, key: str = "") -> None:
        with self._lock:
            self._after_fork()
            self._tally[(kind, key)] += 1
            if self._thread is None:
                self._start()

    def add_view(self, slug: str, digest: str, day: date) -> None:
        """A view of `slug` by the visitor of `digest` on `day`; counted at most once."""
        with self._lock:
            self._after_fork()
            if self._seen_day != day:
                self._seen, self._seen_day = set(), day
            if digest in self._seen:
                return
            self._seen.add(digest)
            self._marks[digest] = (slug, day)
            if self._thread is None:
                self._start()

    def _after_fork(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's tallies are not ours
            self._tally, self._marks, self._pid, self._thread = Tally(), {}, os.getpid(), None

    def pending(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._tally)

    def flush(self) -> int:
        """Write the tallies; on failure they are kept for the next flush. Returns the count written."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            tally, self._tally = self._tally, Tally()
            marks, self._marks = self._marks, {}
        if not tally and not marks:
            return 0
        try:
            with self.sessions() as session:
                tally.update(_new_views(session, marks))
                _write(session, tally)
                session.commit()
        except Exception as exc:  # the database may be briefly away; counts wait for the next try
            log.warning("could not write %d counts (%s); kept for the next flush", sum(tally.values()),
                        type(exc).__name__)
            with self._lock:
                self._tally.update((k, n) for k, n in tally.items() if k[0] != VIEW)
                self._marks.update(marks)
            return 0
        return sum(tally.values())

    def stop(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kaifang-counts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def _new_views(session: Session, marks: dict[str, tuple[str, date]]) -> Tally[tuple[str, str]]:
    """Insert the marks not stored yet and tally a view for each; forget marks before yesterday.
    A race with another worker's flush ends in an integrity error: the whole flush is kept and
    retried, and the retry finds that worker's marks."""
    if not marks:
        return Tally()
    known: set[str] = set()
    digests = list(marks)
    for start in range(0, len(digests), 500):
        chunk = digests[start:start + 500]
        known.update(session.scalars(select(ViewMark.digest).where(ViewMark.digest.in_(chunk))))
    fresh = [(digest, slug, day) for digest, (slug, day) in marks.items() if digest not in known]
    if fresh:
        session.execute(insert(ViewMark), [{"digest": d, "day": day} for d, _, day in fresh])
    oldest = min(day for _, day in marks.values()) - timedelta(days=1)
    session.execute(delete(ViewMark).where(ViewMark.day < oldest))
    return Tally((VIEW, slug) for _, slug, _ in fresh)


def _write(session: Session, tally: Tally[tuple[str, str]]) -> None:
    calls = 0
    for (kind, key), n in sorted(tally.items()):
        if kind == API_CALL:
            calls += n
        else:
            column = COLUMNS[kind]
            session.execute(update(Dataset).where(Dataset.slug == key).values({column: column + n}))
    if calls:
        moved = session.execute(update(Counter).where(Counter.name == "api_calls").values(value=Counter.value + calls))
        if moved.rowcount == 0:
            session.execute(insert(Counter).values(name="api_calls", value=calls))


_buffers: weakref.WeakKeyDictionary[Engine, CountBuffer] = weakref.WeakKeyDictionary()
_buffers_lock = threading.Lock()


def configure(engine: Engine, *, interval: float) -> CountBuffer:
    """Create the buffer of `engine`'s database (called once per app)."""
    with _buffers_lock:
        buffer = _buffers[engine] = CountBuffer(engine, interval)
    return buffer


def buffer_for(session: Session) -> CountBuffer:
    engine = session.get_bind()
    buffer = _buffers.get(engine)
    if buffer is None:
        with _buffers_lock:
            buffer = _buffers.setdefault(engine, CountBuffer(engine, 5.0))
    return buffer


def flush_all() -> int:
    """Write every buffer's tallies now (at exit, and for tests and commands that read counts)."""
    return sum(buffer.flush() for buffer in list(_buffers.values()))


atexit.register(flush_all)
