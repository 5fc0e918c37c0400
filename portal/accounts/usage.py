"""API calls per key per day, counted off the request path.

Each worker process keeps a `UsageBuffer`: a call adds one to an in-memory counter (a dict update
under a lock, no I/O). A flusher thread writes the counts in one transaction every
USAGE_FLUSH_SECONDS, adding them to `api_key_usage` (an upsert, so several workers' counts add
up) and setting each key's `last_used_at` — so a key's last use is written at most once per
interval, never per call. At most one interval of counts is lost if a worker is killed.

`usage_by_day` reads the counts back for the account page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.accounts.models import ApiKey, ApiKeyUsage
from portal.auth import Actor
from portal.db import utcnow

log = logging.getLogger(__name__)


class UsageBuffer:
    """In-memory call counts of one process, flushed in batches by a daemon thread."""

    def __init__(self, open_session: Callable[[], Session], interval: float):
        self._open_session = open_session
        self._interval = interval
        self._lock = threading.Lock()
        self._counts: Counter[tuple[int, date]] = Counter()
        self._last_used: dict[int, datetime] = {}
        self._thread: threading.Thread | None = None

    def record(self, key_id: int) -> None:
        now = utcnow()
        with self._lock:
            self._counts[(key_id, now.date())] += 1
            self._last_used[key_id] = now
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kaifang-usage-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            self.flush()

    def flush(self) -> int:
        """Write the buffered counts; returns how many (key, day) counts were written.

        On a database error the counts go back into the buffer for the next try.
        """
        with self._lock:
            counts, last_used = self._counts, self._last_used
            self._counts, self._last_used = Counter(), {}
        if not counts:
            return 0
        try:
            with self._open_session() as session:
                _write(session, counts, last_used)
        except Exception:
            log.exception("could not write API usage counts; keeping them for the next flush")
            with self._lock:
                self._counts.update(counts)
                for key_id, when in last_used.items():
                    self._last_used[key_id] = max(when, self._last_used.get(key_id, when))
            return 0
        return len(counts)


def _write(session: Session, counts: Counter[tuple[int, date]], last_used: dict[int, datetime]) -> None:
    # A key deleted meanwhile (its account removed) has nowhere to count; its calls are dropped.
    existing = set(session.scalars(select(ApiKey.id).where(ApiKey.id.in_({k for k, _ in counts}))))
    rows = [{"key_id": key_id, "day": day, "calls": calls}
            for (key_id, day), calls in counts.items() if key_id in existing]
    if rows:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(ApiKeyUsage).values(rows)
        session.execute(statement.on_conflict_do_update(
            index_elements=[ApiKeyUsage.key_id, ApiKeyUsage.day],
            set_={"calls": ApiKeyUsage.calls + statement.excluded.calls}))
    for key_id, when in last_used.items():
        if key_id in existing:
            session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
    session.commit()


@dataclass(frozen=True)
class DailyUsage:
    prefix: str
    name: str
    day: date
    calls: int


def usage_by_day(session: Session, actor: Actor, *, days: int = 30) -> list[DailyUsage]:
    """Calls per day of each of the actor's keys over the last `days` days (UTC), oldest first."""
    if actor.user_id is None:
        return []
    since = utcnow().date() - timedelta(days=days - 1)
    rows = session.execute(
        select(ApiKey.prefix, ApiKey.name, ApiKeyUsage.day, ApiKeyUsage.calls)
        .join(ApiKey, ApiKey.id == ApiKeyUsage.key_id)
        .where(ApiKey.user_id == actor.user_id, ApiKeyUsage.day >= since)
        .order_by(ApiKeyUsage.day, ApiKey.prefix))
    return [DailyUsage(r.prefix, r.name, r.day, r.calls) for r in rows]
