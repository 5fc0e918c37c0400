"""Leased quota (portal/api/windows.py, decision 0024b), against the real Redis: each process draws
permits from the shared count before it admits a call with them, so no caller is ever admitted
beyond its limit across processes; near the limit a lease is one permit, so the 429 comes exactly
at the limit; a lease ends with its window; Redis going away mid-lease keeps the API answering."""

from __future__ import annotations

import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from portal.api.windows import OneTripRedisStorage, Window
from tests.conftest import REDIS_URL, ROOT, empty_app

pytestmark = pytest.mark.redis


def _storage(**leases) -> OneTripRedisStorage:
    scheme, rest = REDIS_URL.split("://", 1)
    return OneTripRedisStorage(f"kaifang+{scheme}://{rest}", **{"lease_max": 100, "lease_seconds": 60.0,
                                                                 "lease_workers": 1, **leases})


def _raw(storage: OneTripRedisStorage, window: Window) -> int:
    return int(storage.storage.get(storage.prefixed_key(window.key)) or 0)


def _admit_until_refused(key: str, limit: int, threads: int, start: float, results) -> None:
    """In a process of its own: `threads` threads admit calls on one storage, as a gunicorn worker's
    threads do, until refused; the number admitted goes to `results`."""
    import threading

    storage = _storage(lease_workers=2)
    windows = (Window(key, 60, limit),)
    admitted = [0] * threads

    def admit(i: int) -> None:
        while time.time() < start:
            time.sleep(0.001)
        while True:
            counted = storage.count(windows)
            if counted[-1][0] > limit:
                return
            admitted[i] += 1

    workers = [threading.Thread(target=admit, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((sum(admitted), _raw(storage, windows[0])))


def test_processes_drawing_leases_at_once_never_admit_beyond_the_limit(redis_url):
    key = f"LIMITER/lease-test-{uuid.uuid4().hex[:8]}/addr/api/500/1/minute"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.time() + 3  # every process starts admitting at the same instant
    processes = [context.Process(target=_admit_until_refused, args=(key, 500, 2, start, results)) for _ in range(3)]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    # A thread is refused only when its process holds no permit and the shared count has no room;
    # until then its process's lease admits: every permit drawn is used, none beyond the limit.
    assert sum(count for count, _ in answers) == 500
    assert {raw for _, raw in answers} == {500}


def test_the_429_comes_exactly_at_a_small_limit_and_remaining_counts_down(tmp_path, redis_url):
    app = empty_app(tmp_path / "inst", RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ANON="40/minute",
                   RATELIMIT_LEASE_WORKERS=1, RATELIMIT_LEASE_SECONDS=60,
                   RATELIMIT_KEY_PREFIX=f"kaifang-test-{uuid.uuid4().hex[:8]}")
    storage = app.extensions["kaifang.limiter"].storage
    trips = []
    draw = storage.count_windows
    storage.count_windows = lambda keys, args, retry=None: trips.append(1) or draw(keys, args, retry)
    client = app.test_client()
    answers = [client.get("/api/v1/datasets") for _ in range(42)]
    assert [a.status_code for a in answers] == [200] * 40 + [429, 429]
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers[:40]] == list(range(39, -1, -1))
    assert all(re.fullmatch(r'"minute";r=\d+;t=\d+', a.headers["RateLimit"]) for a in answers)
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert len(trips) < 30  # leases of several permits while far from the limit, then of one
    assert not app.extensions["kaifang.limiter"]._storage_dead  # all of it counted in Redis


def test_two_apps_on_one_redis_admit_the_limit_exactly_and_no_more(tmp_path, redis_url):
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_ANON": "60/minute", "RATELIMIT_LEASE_WORKERS": 1,
                "RATELIMIT_LEASE_SECONDS": 60, "RATELIMIT_KEY_PREFIX": f"kaifang-test-{uuid.uuid4().hex[:8]}"}
    clients = [empty_app(tmp_path / name, **settings).test_client() for name in ("a", "b")]
    statuses = [clients[i % 2].get("/api/v1/datasets").status_code for i in range(80)]
    # One app may be refused while the other still holds a permit of its lease (it admits with it
    # on its next call): every permit drawn is used, none beyond the limit.
    assert statuses.count(200) == 60 and statuses[-4:] == [429] * 4


def test_a_lease_ends_with_its_window_and_gives_back_to_a_longer_one(redis_url):
    storage = _storage()
    tag = uuid.uuid4().hex[:8]
    short, long = Window(f"lease-test-{tag}/2/second", 2, 80), Window(f"lease-test-{tag}/1/hour", 3600, 1000)
    windows = (short, long)
    for _ in range(6):
        assert storage.count(windows)[0][0] <= 80
    lease = storage._leases[windows]
    assert lease.left > 0 and lease.expires <= min(lease.resets)
    time.sleep(max(0.0, lease.resets[0] - time.time()) + 0.3)  # the short window rolls
    counted = storage.count(windows)
    fresh = storage._leases[windows]
    assert _raw(storage, short) == fresh.granted  # a new window: the old permits were not carried over
    assert _raw(storage, long) == 6 + fresh.granted  # ...and the unused ones went back to the hour
    assert counted[0][0] == 1 and counted[1][0] == 7
    admitted = 1
    while storage.count(windows)[0][0] <= 80:
        admitted += 1
    assert admitted == 80 or time.time() > fresh.resets[0]  # all of the new window, unless it rolled again


def test_redis_dropping_mid_lease_keeps_the_api_answering(tmp_path, redis_url):
    app = empty_app(tmp_path / "inst", RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ANON="1000/minute",
                   RATELIMIT_LEASE_WORKERS=1, RATELIMIT_LEASE_SECONDS=60,
                   RATELIMIT_KEY_PREFIX=f"kaifang-test-{uuid.uuid4().hex[:8]}")
    limiter = app.extensions["kaifang.limiter"]
    storage = limiter.storage
    client = app.test_client()
    while not any(lease.left >= 3 for lease in storage._leases.values()):
        assert client.get("/api/v1/datasets").status_code == 200
    left = next(lease.left for lease in storage._leases.values())
    with socket.socket() as s:  # Redis goes away: its address now leads nowhere
        s.bind(("127.0.0.1", 0))
        storage.storage.connection_pool.connection_kwargs["port"] = s.getsockname()[1]
    storage.storage.connection_pool.disconnect()
    storage._thread_connection().disconnect()
    storage._own.connection = None
    from_lease = [client.get("/api/v1/datasets") for _ in range(left)]
    assert [r.status_code for r in from_lease] == [200] * left and not limiter._storage_dead
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in from_lease] == sorted(
        (int(r.headers["X-RateLimit-Remaining"]) for r in from_lease), reverse=True)
    after = [client.get("/api/v1/datasets") for _ in range(3)]  # the lease is spent: memory takes over
    assert [r.status_code for r in after] == [200] * 3 and limiter._storage_dead
    assert all("RateLimit-Policy" in r.headers for r in after)


def test_a_retry_after_a_lost_reply_does_not_give_permits_back_twice(redis_url):
    storage = _storage()
    windows = (Window(f"lease-test-{uuid.uuid4().hex[:8]}/1/minute", 60, 1000),)
    admitted = 0
    while storage._leases.get(windows) is None or storage._leases[windows].left < 5:
        storage.count(windows)
        admitted += 1
    stale = storage._leases[windows]
    stale.expires, stale.drawn = 0.0, time.time() - 1000  # stale, and slow: the next draw asks for one
    send, tries = storage._send, []

    def reply_lost(packed):
        tries.append(packed)
        answer = send(packed)  # the script ran...
        if len(tries) == 1:
            raise storage._timeout_error("Timeout reading from socket")  # ...but its reply was lost
        return answer

    storage._send = reply_lost
    assert storage.count(windows)[0][0] <= 1000
    admitted += 1
    assert len(tries) == 2
    # Every permit in use or held is counted in Redis (the first try's grant stays counted, unused).
    assert _raw(storage, windows[0]) >= admitted + storage._leases[windows].left


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gunicorn_workers_drawing_leases_never_admit_beyond_the_limit(tmp_path, redis_url):
    empty_app(tmp_path / "instance")
    port = _free_port()
    env = {**os.environ, "KAIFANG_INSTANCE": str(tmp_path / "instance"), "KAIFANG_SECRET_KEY": "gunicorn-test",
           "KAIFANG_RATELIMIT_STORAGE_URI": redis_url, "KAIFANG_RATELIMIT_ANON": "48/minute",
           "KAIFANG_RATELIMIT_LEASE_WORKERS": "1", "KAIFANG_RATELIMIT_LEASE_SECONDS": "60",
           "KAIFANG_RATELIMIT_KEY_PREFIX": f"kaifang-test-{uuid.uuid4().hex[:8]}"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-w", "2", "-k", "gthread", "--threads", "2", "-b", f"127.0.0.1:{port}",
                             "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get("/about") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        statuses = [get("/api/v1/datasets") for _ in range(70)]  # a new connection each: either worker
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # Never beyond the limit; short of it by at most what the workers' last leases hold unused if
    # no more calls reach them (a lease is at most the room left / 8 when drawn: a few permits).
    assert set(statuses) == {200, 429} and 48 - 12 <= statuses.count(200) <= 48
