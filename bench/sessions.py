"""Benchmark of analysis sessions over HTTP, beside the same run through `submit_run` in-process.

    .venv/bin/python bench/sessions.py                     # ~2 minutes
    .venv/bin/python bench/sessions.py --samples 100 --sessions 20 --cells 10

Set up on a temporary instance (removed afterwards): the NYC flights dataset, 21 developer
accounts with `sandbox:run` keys, gunicorn with 2 workers (gthread) serving the portal, and the
run queue in each configuration measured:

- "production": SESSION_QUEUE_URL=redis://127.0.0.1:6379/14, with `kaifang run-worker` (2
  threads, the sandbox pool of SANDBOX_WORKERS=2) as its own process; PostgreSQL when it
  answers on 127.0.0.1:5432 (a scratch database, dropped afterwards), else SQLite;
- "embedded": no Redis, each gunicorn worker runs cells on its own threads and pool.

Figures, in the same run:
(a) a trivial cell (`print(1)`) over HTTP: POST /api/v1/sessions/{id}/runs, then
    GET /api/v1/runs/{id}?wait=30 on one keep-alive connection — p50/p95 of the pair;
(b) the same cell through `portal.analysis.service.submit_run` in this process (its own pool,
    the real broker and audit record, same database) — the floor the queue adds to;
(c) 20 sessions at once, each running 10 cells one after another (a lazy table made in the
    first cell, counts on it in the others): p50/p95 per cell and cells per second.

The machine is shared: the 1-minute load average is printed with every figure, and only the
ratios measured in the same run mean much. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The benchmark's own loads write no download files afterwards: `kaifang load` would start
# `kaifang export-cache` in the background (a minute of CPU for the flights XLSX), which ran
# beside the measurements and slowed them.
QUIET_LOAD = {"KAIFANG_EXPORT_CACHE_AFTER_LOAD": "false"}

sys.path[0] = str(ROOT)  # `import sandbox` is the package, not bench/sandbox.py
VENV_BIN = Path(sys.executable).parent
FLIGHTS = "nyc-flights-2013"
REDIS = "redis://127.0.0.1:6379/14"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000
    return f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (n={len(ordered)}, {load()})"


class Client:
    """One keep-alive HTTP connection with a key."""

    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"X-API-Key": key, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})

    def open(self, datasets: list[str]) -> str:
        status, body = self.call("POST", "/api/v1/sessions", {"datasets": datasets})
        assert status == 201, body
        return body["id"]

    def run(self, session_id: str, code: str) -> dict:
        status, run = self.call("POST", f"/api/v1/sessions/{session_id}/runs", {"code": code})
        assert status == 202, run
        status, done = self.call("GET", f"/api/v1/runs/{run['id']}?wait=30")
        assert status == 200 and done["status"] == "done", done
        return done


def prepare(work: Path, database_url: str | None, people: int) -> tuple[Path, list[str]]:
    """The instance (flights loaded) and `people` keys with sandbox:run."""
    instance = work / "instance"
    env = {**os.environ, "KAIFANG_INSTANCE": str(instance), **QUIET_LOAD}
    if database_url:
        env["KAIFANG_DATABASE_URL"] = database_url
    subprocess.run([str(VENV_BIN / "kaifang"), "init"], env=env, check=True, cwd=ROOT, capture_output=True)
    subprocess.run([str(VENV_BIN / "kaifang"), "load", str(ROOT / "datasets" / FLIGHTS)], env=env, check=True,
                   cwd=ROOT, capture_output=True)
    keys = []
    os.environ["KAIFANG_INSTANCE"] = str(instance)
    if database_url:
        os.environ["KAIFANG_DATABASE_URL"] = database_url
    from portal import create_app
    from portal.accounts import keys as key_service
    from portal.accounts import service
    from portal.auth import SYSTEM
    from portal.db import database, session_scope

    app = create_app({"SEARCH_DRAIN_INTERVAL": 0})  # no drain thread outliving the scratch database
    with app.app_context(), session_scope(app) as db:
        for number in range(people):
            user = service.create_user(db, SYSTEM, email=f"bench{number}@example.org", password="bench-password-123",
                                       role="developer")
            made = key_service.create_key(db, service.actor_for(db, user.id), name="bench", scopes=["sandbox:run"],
                                          tier=app.config["RATELIMIT_DEFAULT_TIER"], expires_days=None)
            keys.append(made.secret)
    database(app).engine.dispose()
    return instance, keys


def server_env(instance: Path, database_url: str | None, queue_url: str, prefix: str) -> dict[str, str]:
    env = {**os.environ, "KAIFANG_INSTANCE": str(instance), "KAIFANG_RATELIMIT_TIERS": "developer=10000000/minute",
           "KAIFANG_RATELIMIT_ANON": "10000000/minute", "KAIFANG_SESSION_MAX_CONCURRENT": "5",
           "KAIFANG_SESSION_CPU_SECONDS_DAILY": "100000", "KAIFANG_SESSION_QUEUE_URL": queue_url,
           "KAIFANG_RATELIMIT_KEY_PREFIX": prefix, "KAIFANG_SANDBOX_WORKERS": "2"}
    if database_url:
        env["KAIFANG_DATABASE_URL"] = database_url
    return env


def start(env: dict[str, str], queue_url: str) -> tuple[int, list[subprocess.Popen]]:
    port = free_port()
    procs = [subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "8",
                               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    if queue_url:
        procs.append(subprocess.Popen([str(VENV_BIN / "kaifang"), "run-worker", "--threads", "2"], cwd=ROOT, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 60
    while not reachable(port):
        if time.monotonic() > deadline:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)
    return port, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def phases(done: dict) -> tuple[float, float]:
    """Seconds the run waited in the queue, and from its start to its end (the worker's side)."""
    at = {name: datetime.fromisoformat(done[name]) for name in ("submitted_at", "started_at", "finished_at")}
    return ((at["started_at"] - at["submitted_at"]).total_seconds(),
            (at["finished_at"] - at["started_at"]).total_seconds())


def trivial_over_http(port: int, key: str, samples: int) -> tuple[list[float], list[float], list[float]]:
    client = Client(port, key)
    session_id = client.open([])
    for _ in range(10):  # warm-up: both gunicorn workers, the pool, the connection
        client.run(session_id, "print(1)")
    times, waits, runs = [], [], []
    for _ in range(samples):
        started = time.perf_counter()
        done = client.run(session_id, "print(1)")
        times.append(time.perf_counter() - started)
        assert done["result"]["stdout"] == "1\n", done
        wait, run = phases(done)
        waits.append(wait)
        runs.append(run)
    client.call("DELETE", f"/api/v1/sessions/{session_id}")
    return times, waits, runs


def concurrent_sessions(port: int, keys: list[str], cells: int) -> tuple[list[float], float]:
    per_cell: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(key: str) -> None:
        try:
            client = Client(port, key)
            session_id = client.open([FLIGHTS])
            codes = [f"t = dataset('{FLIGHTS}')"] + [f"n{i} = t.filter(col('month') == {i}).count()"
                                                     for i in range(1, cells)]
            for code in codes:
                started = time.perf_counter()
                done = client.run(session_id, code)
                assert done["result"]["status"] == "ok", done["result"]
                with lock:
                    per_cell.append(time.perf_counter() - started)
            client.call("DELETE", f"/api/v1/sessions/{session_id}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(key,)) for key in keys]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_cell, elapsed


def in_process(instance: Path, database_url: str | None, samples: int) -> list[float]:
    """`submit_run` in this process: the same cell, real broker and audit, same database."""
    os.environ["KAIFANG_INSTANCE"] = str(instance)
    if database_url:
        os.environ["KAIFANG_DATABASE_URL"] = database_url
    from portal import create_app
    from portal.accounts.service import actor_for, user_by_email
    from portal.analysis.runtime import AnalysisSettings, close_pools
    from portal.analysis.service import submit_run
    from portal.db import database, session_scope

    app = create_app({"SANDBOX_WORKERS": 2, "SEARCH_DRAIN_INTERVAL": 0})  # no drain thread outliving the scratch database
    settings = AnalysisSettings.from_config(app.config)
    times = []
    with app.app_context(), session_scope(app) as db:
        actor = actor_for(db, user_by_email(db, "bench0@example.org").id)
        for number in range(samples + 10):
            started = time.perf_counter()
            outcome = submit_run(db, actor, code="print(1)", datasets=[], settings=settings)
            if number >= 10:
                times.append(time.perf_counter() - started)
            assert outcome.result["stdout"] == "1\n"
    close_pools()
    database(app).engine.dispose()
    return times


def scratch_postgres() -> tuple[str | None, callable]:
    if not reachable(5432):
        return None, lambda: None
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"kaifang_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--sqlite", action="store_true", help="SQLite even when PostgreSQL answers")
    args = parser.parse_args()
    if not reachable(6379):
        raise SystemExit("Redis is not reachable at 127.0.0.1:6379 (the production queue needs it)")
    work = Path(tempfile.mkdtemp(prefix="kaifang-bench-sessions-"))
    database_url, drop = (None, lambda: None) if args.sqlite else scratch_postgres()
    try:
        print(f"database: {'PostgreSQL' if database_url else 'SQLite'}; cpus {os.cpu_count()}; {load()}")
        instance, keys = prepare(work, database_url, args.sessions + 1)
        prefix = f"kaifang-bench-{uuid.uuid4().hex[:8]}"
        for label, queue_url in (("production (Redis queue + run-worker)", REDIS), ("embedded (in-process queue)", "")):
            port, procs = start(server_env(instance, database_url, queue_url, prefix), queue_url)
            try:
                print(f"\n== {label}, gunicorn -w 2")
                times, waits, runs = trivial_over_http(port, keys[0], args.samples)
                print(f"(a) print(1) over HTTP (POST run + GET ?wait):   {summary(times)}")
                print(f"    of which queued (submitted -> started):      {summary(waits)}")
                print(f"    of which in the worker (started -> finished): {summary(runs)}")
                cells, elapsed = concurrent_sessions(port, keys[1:], args.cells)
                print(f"(c) {args.sessions} sessions x {args.cells} cells at once, per cell: {summary(cells)}")
                print(f"    {len(cells)} cells in {elapsed:.1f} s = {len(cells) / elapsed:.1f} cells/s")
            finally:
                stop(procs)
        print(f"\n(b) print(1) through submit_run in-process:        {summary(in_process(instance, database_url, args.samples))}")
    finally:
        drop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
