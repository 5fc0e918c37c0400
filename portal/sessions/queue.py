"""The run queue between the web process and the sandbox pool (docs/decisions/0021a).

Two backends with one interface (`enqueue`, `wait`, `notify`):

- `InProcessQueue` (SESSION_QUEUE_URL empty, the embedded default): a queue and worker threads
  inside each web process, feeding that process's sandbox pool. The request thread only
  enqueues; a slow cell holds a worker thread, never a page.
- `RedisQueue` (SESSION_QUEUE_URL=redis://…): a Redis list. Web processes LPUSH session ids;
  `kaifang run-worker`, the service process that holds the pool, BRPOPs them on its threads.
  A finished run is announced on a per-run latch list (`…:done:<run id>`, expiring) that a
  waiting request BLMOVEs onto itself (read, and left in place), so any number of waiters, in
  any process, wake at once.

What the queue carries is a session id only; the run itself, its code and its state live in
the database, so a lost item loses nothing (a worker re-queues sessions with queued cells when
it starts), and nothing analyst-controlled is ever unpickled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from portal.sessions import worker

if TYPE_CHECKING:
    from flask import Flask

    from portal.core import Core

log = logging.getLogger(__name__)

DONE_TTL = 120  # seconds a finished run's latch stays for late waiters
# Runs of this process announced lately, remembered for a waiter that comes after the
# announcement (the in-process queue's latch): more than the runs finishing while one waiter
# reads the run and starts to wait.
RECENT_DONE = 4096


class RunQueue(Protocol):
    backend: str

    def enqueue(self, session_id: str) -> None: ...

    def wait(self, run_id: str, timeout: float) -> None:
        """Block until the run may have finished (announced), or `timeout` seconds."""

    def notify(self, run_id: str) -> None: ...

    def depth(self) -> int | None: ...


def queue_for(app: Flask | Core) -> RunQueue:
    """The app's queue (made on first use)."""
    found = app.extensions.get("kaifang.run_queue")
    if found is None:
        url = app.config["SESSION_QUEUE_URL"]
        found = RedisQueue(url, prefix=app.config["RATELIMIT_KEY_PREFIX"]) if url else InProcessQueue(app)
        app.extensions["kaifang.run_queue"] = found
    return found


def thread_count(app: Flask | Core) -> int:
    return int(app.config["SESSION_QUEUE_THREADS"]) or int(app.config["SANDBOX_WORKERS"])


class InProcessQueue:
    backend = "in-process"

    def __init__(self, app: Flask | Core):
        self._app = app
        self._items: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._finished = threading.Condition()
        self._done: OrderedDict[str, None] = OrderedDict()  # announced runs, newest last
        self._started = False
        self._lock = threading.Lock()

    def enqueue(self, session_id: str) -> None:
        self._start()
        self._items.put(session_id)

    def notify(self, run_id: str) -> None:
        with self._finished:
            self._done[run_id] = None
            while len(self._done) > RECENT_DONE:
                self._done.popitem(last=False)
            self._finished.notify_all()

    def wait(self, run_id: str, timeout: float) -> None:
        # Woken by any finished run of this process; a run finished by another web process is
        # seen by the caller's next database read, hence the short slices. A run announced
        # between the caller's read and this wait is remembered (`_done`), as the Redis latch
        # is: the announcement was lost, and the caller slept a whole slice for a finished run.
        with self._finished:
            if run_id not in self._done:
                self._finished.wait(min(timeout, 0.02))

    def depth(self) -> int | None:
        return self._items.qsize()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for number in range(thread_count(self._app)):
                threading.Thread(target=self._work, name=f"kaifang-run-{number}", daemon=True).start()
            for session_id in worker.pending_sessions(self._app):  # left queued by a previous process
                self._items.put(session_id)

    def _work(self) -> None:
        while True:
            session_id = self._items.get()
            try:
                worker.process_session(self._app, session_id, self.notify)
            except Exception:  # noqa: BLE001 - one session's failure must not stop the worker
                log.exception("session %s: the queue worker failed", session_id)


class RedisQueue:
    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "kaifang"):
        import redis  # noqa: PLC0415 - production dependency, only with a Redis queue

        self._redis = redis.Redis.from_url(url, socket_timeout=None, health_check_interval=30)
        self.key = f"{prefix}:sessions:queue"
        self._done = f"{prefix}:sessions:done:"

    def enqueue(self, session_id: str) -> None:
        self._redis.lpush(self.key, session_id)

    def notify(self, run_id: str) -> None:
        with self._redis.pipeline() as pipe:
            pipe.lpush(self._done + run_id, "1").expire(self._done + run_id, DONE_TTL).execute()

    def wait(self, run_id: str, timeout: float) -> None:
        if timeout <= 0:
            return
        # Rotate the latch onto its own list (BLMOVE to the same key): it is read and left in
        # place, with its expiry, for any other waiter of this run, in one round trip.
        latch = self._done + run_id
        self._redis.blmove(latch, latch, max(0.01, timeout), "RIGHT", "LEFT")

    def depth(self) -> int | None:
        return int(self._redis.llen(self.key))

    def consume(self, app: Flask | Core, stop: threading.Event, *, poll: float = 1.0) -> None:
        """One worker thread of `kaifang run-worker`: take sessions off the list until `stop`."""
        while not stop.is_set():
            try:
                item = self._redis.brpop([self.key], timeout=poll)
            except Exception:  # noqa: BLE001 - Redis restarting: wait and try again
                log.exception("run queue: Redis did not answer")
                time.sleep(poll)
                continue
            if item is None:
                continue
            session_id = item[1].decode("utf-8", "replace")
            try:
                worker.process_session(app, session_id, self.notify)
            except Exception:  # noqa: BLE001
                log.exception("session %s: the queue worker failed", session_id)


def run_worker(app: Flask | Core, *, threads: int | None = None, stop: threading.Event | None = None) -> None:
    """`kaifang run-worker`: consume the Redis queue on `threads` threads until `stop` is set
    (or the process is interrupted). Sessions with queued cells are re-queued first."""
    found = queue_for(app)
    if not isinstance(found, RedisQueue):
        raise RuntimeError("kaifang run-worker needs SESSION_QUEUE_URL=redis://… (the embedded queue runs in the web process)")
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():  # a service manager's SIGTERM stops it cleanly
        import signal  # noqa: PLC0415

        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for session_id in worker.pending_sessions(app):
        found.enqueue(session_id)
    workers = [threading.Thread(target=found.consume, args=(app, stop), name=f"kaifang-run-{n}", daemon=True)
               for n in range(threads or thread_count(app))]
    for thread in workers:
        thread.start()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        stop.set()
    for thread in workers:
        thread.join(timeout=5)
