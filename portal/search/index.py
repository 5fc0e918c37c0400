"""The one owner of the Whoosh index: opening, the live updates from the outbox, rebuilding.

Whoosh lets one writer in at a time (a lock file in the index folder). Every worker process
that commits a catalog change drains the outbox itself, right after its commit, taking the
writer lock with retries (`SEARCH_LOCK_TIMEOUT`); so a change is searchable before the
response that made it is sent. A drain that cannot get the lock leaves its rows for the next
drain, and a timer in each process drains leftovers (docs/decisions/0013). Readers keep one
searcher per thread and reopen it whenever the index generation on disk changes, so a change
made by another process is seen by the next query.

A missing or corrupt index is rebuilt from the database in a background thread while the site
answers from the database filter (`status` is then "rebuilding"). A rebuild that fails (the
writer lock held past its timeout on a loaded machine, a disk error) is tried again by a later
search, at most every RETRY_SECONDS, so no process stays on the fallback for good.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from whoosh import index as whoosh_index
from whoosh.searching import Searcher
from whoosh.writing import CLEAR

from portal.catalog.models import Dataset
from portal.catalog.outbox import SearchOutbox
from portal.search.documents import load_datasets, to_document
from portal.search.schema import build_schema
from portal.search.writer import open_writer

log = logging.getLogger(__name__)

LOCK_FILE = ".rebuild.lock"
DRAIN_BATCH = 500
RETRY_SECONDS = 5.0


class SearchIndex:
    """The index folder of one app, shared by the threads of a process."""

    def __init__(self, folder: Path, sessions: sessionmaker[Session], *, lock_timeout: float = 10.0):
        self.folder = folder
        self.sessions = sessions
        self.lock_timeout = lock_timeout
        self.status = "closed"  # closed | ready | rebuilding
        self._ix = None
        self._local = threading.local()
        self._state = threading.Lock()
        self._rebuilder: threading.Thread | None = None
        self._failed_at: float | None = None

    # ---- opening and rebuilding ---------------------------------------------------------

    def open(self, *, background: bool = True) -> str:
        """Open the index; start a rebuild when it is missing or unreadable. Returns the status."""
        ix = _open_checked(self.folder)
        if ix is not None:
            self._ix, self.status = ix, "ready"
        else:
            log.warning("search index at %s missing or unreadable; rebuilding from the database", self.folder)
            self.start_rebuild(background=background)
        return self.status

    def start_rebuild(self, *, background: bool = True) -> None:
        """Rebuild from the database; meanwhile searches fall back to the database filter."""
        with self._state:
            if self._rebuilder is not None and self._rebuilder.is_alive():
                return
            self.status, self._ix = "rebuilding", None
            self._local = threading.local()
            self._rebuilder = threading.Thread(target=self._rebuild_quietly, name="search-rebuild", daemon=True)
        if background:
            self._rebuilder.start()
        else:
            self._rebuilder.run()

    def _rebuild_quietly(self) -> None:
        try:
            self.rebuild()
        except Exception:  # the thread must not die silently: log, fall back, retry later
            self._failed_at = time.monotonic()
            log.exception("rebuilding the search index failed; retrying in %.0f s", RETRY_SECONDS)

    def _retry_failed_rebuild(self) -> None:
        failed_at = self._failed_at
        if failed_at is None or time.monotonic() - failed_at < RETRY_SECONDS:
            return
        with self._state:
            if self._failed_at != failed_at:  # another thread took this retry
                return
            self._failed_at = None
        self.open()  # the index another process rebuilt meanwhile, or a new rebuild

    def rebuild(self) -> int:
        """Index every dataset again; returns how many.

        A readable index gets a new generation that replaces the old one at commit. An unreadable
        or missing one is built in a staging folder beside it and moved in, its TOC last, so other
        processes never open a half-built (or empty) index. Only one process rebuilds at a time
        (an exclusive file lock); the others wait, then rebuild the readable result in place.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.folder / LOCK_FILE), self.sessions() as session:
            upto = session.scalar(select(func.max(SearchOutbox.id))) or 0
            ix = _open_checked(self.folder)
            if ix is not None:
                count = self._fill(ix, session)
            else:
                ix, count = self._build_beside(session)
            session.execute(delete(SearchOutbox).where(SearchOutbox.id <= upto))
            session.commit()
        self._ix, self.status = ix, "ready"
        self._local = threading.local()
        self.drain()
        return count

    def _fill(self, ix, session: Session) -> int:
        writer = open_writer(ix, timeout=self.lock_timeout)
        count = 0
        try:
            for dataset in load_datasets(session):
                writer.add_document(**to_document(dataset))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        writer.commit(mergetype=CLEAR)
        return count

    def _build_beside(self, session: Session):
        staging = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}-rebuild-", dir=self.folder.parent))
        try:
            count = self._fill(whoosh_index.create_in(str(staging), build_schema()), session)
            for child in self.folder.iterdir():
                if child.name != LOCK_FILE:
                    shutil.rmtree(child) if child.is_dir() else child.unlink(missing_ok=True)
            for built in sorted(staging.iterdir(), key=lambda p: p.suffix == ".toc"):  # the TOC last
                if not built.name.endswith("WRITELOCK"):
                    os.replace(built, self.folder / built.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return whoosh_index.open_dir(str(self.folder)), count

    # ---- reading ------------------------------------------------------------------------

    def searcher(self) -> Searcher | None:
        """This thread's searcher on the newest generation, or None while the index is unusable."""
        ix = self._ix
        if ix is None or self.status != "ready":
            self._retry_failed_rebuild()
            return None
        try:
            if ix.latest_generation() < 0:
                raise FileNotFoundError(self.folder)
            current = getattr(self._local, "searcher", None)
            if current is None or current.reader().generation() != ix.latest_generation():
                # A new reader, not Searcher.refresh(): whoosh-reloaded 2.7.5 reuses segment
                # readers with their old deletion sets (an updated document shows twice).
                self._local.searcher = ix.searcher()
                if current is not None:
                    current.close()
        except Exception as exc:  # noqa: BLE001 - files gone or damaged under us
            log.warning("search index at %s became unreadable (%s); rebuilding", self.folder, exc)
            self.start_rebuild()
            return None
        return self._local.searcher

    # ---- writing ------------------------------------------------------------------------

    def drain(self) -> int:
        """Apply the outbox to the index; returns how many datasets were refreshed.

        Safe to call from any process at any time: rows are deleted only after the index commit
        that covers them, so a crash in between only means indexing a dataset twice.
        """
        ix = self._ix
        if ix is None:
            return 0
        done = 0
        with self.sessions() as session:
            while rows := list(session.scalars(select(SearchOutbox).order_by(SearchOutbox.id).limit(DRAIN_BATCH))):
                try:
                    self._apply(ix, session, {r.dataset_id for r in rows})
                except whoosh_index.LockError:
                    log.info("search index busy; %d change(s) left for the next drain", len(rows))
                    return done
                session.execute(delete(SearchOutbox).where(SearchOutbox.id.in_([r.id for r in rows])))
                session.commit()
                done += len(rows)
        return done

    def sync_counts(self) -> int:
        """Queue the datasets whose view or download counts moved since they were indexed.

        Counts change on every page view, far too often to reindex each time; sorting by
        them may lag by one timer period (`SEARCH_DRAIN_INTERVAL` × COUNTS_EVERY)."""
        searcher = self.searcher()
        if searcher is None:
            return 0
        indexed = {int(f["id"]): (f.get("views"), f.get("downloads")) for _, f in searcher.reader().iter_docs()}
        with self.sessions() as session:
            rows = session.execute(select(Dataset.id, Dataset.view_count, Dataset.download_count))
            stale = [i for i, views, downloads in rows if indexed.get(i, (views, downloads)) != (views, downloads)]
            session.add_all(SearchOutbox(dataset_id=i) for i in stale)
            session.commit()
        return len(stale) and self.drain()

    def _apply(self, ix, session: Session, ids: Iterable[int]) -> None:
        ids = set(ids)
        writer = open_writer(ix, timeout=self.lock_timeout)
        try:
            found = set()
            for dataset in load_datasets(session, ids):
                writer.update_document(**to_document(dataset))
                found.add(dataset.id)
            for missing in ids - found:
                writer.delete_by_term("id", str(missing))
        except BaseException:
            writer.cancel()
            raise
        writer.commit()


def _open_checked(folder: Path):
    """The index at `folder` if it opens and reads, else None.

    Whoosh leaves the file of an unreadable TOC open when it raises; the file is closed here,
    quietly, rather than as a ResourceWarning at some later garbage collection. A folder without
    a TOC (every new instance) opens no file: no collection, which cost 0.3-0.6 s in a process
    holding a test suite's or a server's objects."""
    if not any(folder.glob("_*.toc")):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            ix = whoosh_index.open_dir(str(folder))
            with ix.searcher() as probe:
                probe.doc_count()
            return ix
        except Exception as exc:  # noqa: BLE001 - any failure to read the index means rebuild it
            log.info("search index at %s not readable: %s", folder, exc)
        gc.collect()
    return None


@contextmanager
def _file_lock(path: Path):
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
