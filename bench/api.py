"""Benchmark of API v1 over HTTP against Datasette, side by side in the same run.

    .venv/bin/python bench/api.py                 # 5 s per measurement, ~3 minutes in all
    .venv/bin/python bench/api.py --seconds 3 --rounds 2

Requests: (a) a filtered page of 100 rows of the NYC flights table, "uncached": a different
page every request (`origin__eq`, `month__eq`, `day__eq` and `hour__ge` cycled over 8,064 combinations, none
asked twice, so no cache of any kind helps; after a 3 s warm-up at concurrency 8 on other pages of
the same shape, `hour__ge` 9-12, so each server process has loaded what it keeps per version), and "cached": the same page every time
(`origin__eq=JFK&month__eq=6&size=100`; Datasette: `origin=JFK&month=6&_size=100`), and (b) a
dataset detail call (Datasette: the database page `/flights.json`, its nearest equivalent), at
concurrency 1 and 8, served by `kaifang serve` (Waitress, 8 threads), by gunicorn (2 workers,
gthread, 4 threads), and by Datasette serving the same table as SQLite (with an index on
(origin, month), so the reference is at its best), plus both Kaifang servers with the rate
limiter on Redis (when one answers at --redis) and switched off, and gunicorn with the sync
worker (decision 0021d: which worker class production should run). What the limiter costs is
measured apart, interleaved, by bench/api_limiter.py (this run's servers are a minute apart).

Everything is set up under the bench directory (default $TMPDIR/kaifang-bench/api, never in
git): a portal instance with the flights dataset, the SQLite copy, and a scratch virtualenv
with Datasette installed by pip. The load generator is this process: N threads, each with one
keep-alive connection, for a fixed time after a warm-up; the machine is shared, so only ratios
measured in the same run mean anything. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The benchmark's own loads write no download files afterwards: `kaifang load` would start
# `kaifang export-cache` in the background (a minute of CPU for the flights XLSX), which ran
# beside the measurements and slowed them.
QUIET_LOAD = {"KAIFANG_EXPORT_CACHE_AFTER_LOAD": "false"}

VENV_BIN = Path(sys.executable).parent
FLIGHTS = "nyc-flights-2013"
DATASETTE = "datasette==0.65.5"
KAIFANG_ROWS = f"/api/v1/datasets/{FLIGHTS}/rows?origin__eq=JFK&month__eq=6&size=100"
KAIFANG_DETAIL = f"/api/v1/datasets/{FLIGHTS}"
DATASETTE_ROWS = "/flights/flights.json?origin=JFK&month=6&_size=100"
DATASETTE_DETAIL = "/flights.json"


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    rows: str
    detail: str
    distinct: list[str]  # a different filtered page each request: no cache of any kind helps
    warm: list[str]  # other pages of the same shape, for the warm-up before the distinct ones
    cwd: Path = ROOT  # the checkout whose code it serves (bench/api_limiter.py --baseline)


def distinct_pages(template: str, hours: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)) -> list[str]:
    """8,064 different pages (each measurement takes half, so at 800 req/s for 5 s none repeats;
    4,032 ran out at the ~700 req/s a quiet machine served on 1 Dec 2026)."""
    return [template.format(o=o, m=m, d=d, h=h) for h in hours for d in range(1, 29) for m in range(1, 13)
            for o in ("JFK", "LGA", "EWR")]


KAIFANG_PAGE = f"/api/v1/datasets/{FLIGHTS}/rows?origin__eq={{o}}&month__eq={{m}}&day__eq={{d}}&hour__ge={{h}}&size=100"
DATASETTE_PAGE = "/flights/flights.json?origin={o}&month={m}&day={d}&hour__gte={h}&_size=100"
KAIFANG_DISTINCT, DATASETTE_DISTINCT = distinct_pages(KAIFANG_PAGE), distinct_pages(DATASETTE_PAGE)
WARM_HOURS = (9, 10, 11, 12)
KAIFANG_WARM, DATASETTE_WARM = distinct_pages(KAIFANG_PAGE, WARM_HOURS), distinct_pages(DATASETTE_PAGE, WARM_HOURS)
WARM_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_instance(work: Path) -> Path:
    """A portal instance holding the flights dataset (made once)."""
    instance = work / "instance"
    if (instance / "kaifang.db").exists():
        return instance
    env = {**os.environ, "KAIFANG_INSTANCE": str(instance), **QUIET_LOAD}
    subprocess.run([str(VENV_BIN / "kaifang"), "init"], env=env, check=True, cwd=ROOT)
    subprocess.run([str(VENV_BIN / "kaifang"), "load", str(ROOT / "datasets" / FLIGHTS)], env=env, check=True, cwd=ROOT)
    return instance


def prepare_sqlite(work: Path, instance: Path) -> Path:
    """The same rows as SQLite for Datasette, from the stored Parquet file (made once)."""
    target = work / "flights.db"
    if target.exists():
        return target
    import pyarrow.parquet as pq

    source = next((instance / "data" / FLIGHTS).glob("*.parquet"))
    table = pq.read_table(source)
    names = table.column_names
    temp = target.with_suffix(".tmp")
    temp.unlink(missing_ok=True)
    with sqlite3.connect(temp) as db:
        types = [_sqlite_type(str(field.type)) for field in table.schema]
        db.execute(f"CREATE TABLE flights ({', '.join(f'[{n}] {t}' for n, t in zip(names, types, strict=True))})")
        for batch in table.to_batches(50_000):
            rows = zip(*[[_sqlite_value(v) for v in col.to_pylist()] for col in batch.columns], strict=True)
            db.executemany(f"INSERT INTO flights VALUES ({', '.join('?' * len(names))})", rows)
        db.execute("CREATE INDEX flights_origin_month ON flights (origin, month)")
    temp.rename(target)
    return target


def _sqlite_type(arrow_type: str) -> str:
    if arrow_type.startswith(("int", "uint")):
        return "INTEGER"
    if arrow_type.startswith(("double", "float", "decimal")):
        return "REAL"
    return "TEXT"


def _sqlite_value(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def prepare_datasette(work: Path) -> Path | None:
    """A scratch virtualenv with Datasette (made once); None if it cannot be installed."""
    venv = work / "datasette-venv"
    binary = venv / "bin" / "datasette"
    if binary.exists():
        return binary
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           DATASETTE], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"could not install {DATASETTE}: {done.stderr[-500:]}", file=sys.stderr)
        return None
    return binary


def servers(instance: Path, database: Path, datasette: Path | None, redis: str | None) -> list[Server]:
    base = {**os.environ, "KAIFANG_INSTANCE": str(instance), "KAIFANG_RATELIMIT_ANON": "10000000/minute"}
    no_limits = {**base, "KAIFANG_RATELIMIT_ENABLED": "0"}
    serve = [str(VENV_BIN / "kaifang"), "serve", "--host", "127.0.0.1", "--port", "{port}", "--threads", "8"]
    gunicorn = [str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4", "-b", "127.0.0.1:{port}",
                "--log-level", "warning", "wsgi:app"]
    sync = [str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "sync", "-b", "127.0.0.1:{port}", "--log-level", "warning",
            "wsgi:app"]
    found = []
    if datasette is not None:
        found.append(Server("Datasette 0.65.5", [str(datasette), "serve", str(database), "--host", "127.0.0.1",
                                                 "--port", "{port}", "--setting", "suggest_facets", "off"],
                            dict(os.environ), DATASETTE_ROWS, DATASETTE_DETAIL, DATASETTE_DISTINCT, DATASETTE_WARM))
    pages = (KAIFANG_ROWS, KAIFANG_DETAIL, KAIFANG_DISTINCT, KAIFANG_WARM)
    found += [Server("kaifang serve", serve, base, *pages)]
    if redis:
        found += [Server("kaifang serve, Redis limiter", serve, {**base, **redis_env(redis)}, *pages)]
    found += [Server("kaifang serve, no limiter", serve, no_limits, *pages),
              Server("gunicorn -w 2", gunicorn, base, *pages)]
    if redis:
        found += [Server("gunicorn -w 2, Redis limiter", gunicorn, {**base, **redis_env(redis)}, *pages)]
    found += [Server("gunicorn -w 2, no limiter", gunicorn, no_limits, *pages),
              Server("gunicorn -w 2 -k sync", sync, base, *pages)]
    return found


def redis_env(url: str, tag: str = "") -> dict[str, str]:
    """The limiter on Redis, under a key prefix of this run's own (tests may share the server)."""
    return {"KAIFANG_RATELIMIT_STORAGE_URI": url, "KAIFANG_RATELIMIT_KEY_PREFIX": f"kaifang-bench-{os.getpid()}{tag}"}


def redis_available(url: str) -> bool:
    """Whether a Redis server answers at `url` (redis://host:port/db); the Redis rows need one."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(server: Server) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in server.command]
    process = subprocess.Popen(command, env=server.env, cwd=server.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = fetch(port, server.detail)
            if status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{server.name} did not start: {process.stderr.read().decode()[-2000:]}")


def fetch(port: int, path: str, connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by process `pid` and its living descendants (gunicorn's workers)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def load(port: int, paths: list[str], concurrency: int, seconds: float, pid: int | None = None) -> dict:
    """Requests per second and latency percentiles of `concurrency` keep-alive clients, each
    request taking the next of `paths` (round robin, shared by all clients), and the server's
    CPU milliseconds per request (less disturbed by other load on the machine than the rate)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    turn = itertools.count()
    errors = [0] * concurrency
    stop = threading.Event()

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            began = time.perf_counter()
            try:
                status, _ = fetch(port, paths[next(turn) % len(paths)], connection)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            if status != 200:
                errors[i] += 1
            latencies[i].append(time.perf_counter() - began)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    cpu_before = server_cpu(pid) if pid else 0.0
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = server_cpu(pid) - cpu_before if pid else 0.0
    every = sorted(t for part in latencies for t in part)
    if len(paths) > 1 and len(every) > len(paths):
        print(f"warning: {len(every)} requests over {len(paths)} paths: some pages were asked twice", file=sys.stderr)
    return {"rps": len(every) / elapsed, "cpu_ms": 1000 * cpu / max(1, len(every)), "p50": 1000 * every[len(every) // 2],
            "p99": 1000 * every[min(len(every) - 1, int(len(every) * 0.99))], "n": len(every), "errors": sum(errors)}


def check(server: Server, port: int) -> None:
    status, body = fetch(port, server.rows)
    rows = json.loads(body)["rows"]
    assert status == 200 and len(rows) == 100, (server.name, status, len(rows))


def measure(server: Server, seconds: float) -> dict:
    process, port = start(server)
    try:
        check(server, port)
        results = {}
        for label, paths in (("cached rows", [server.rows]), ("detail", [server.detail])):
            for concurrency in (1, 8):
                load(port, paths, concurrency, 1.0)  # warm-up: connections, caches, pages
                results[f"{label} c={concurrency}"] = load(port, paths, concurrency, seconds, process.pid)
        # Warm-up on pages outside the measured set (hour__ge 9-12): the process loads its resident
        # table (decision 0022g: ~0.3-1 s of CPU once per process and version) as it would for any
        # traffic, and no measured page is asked for twice.
        load(port, server.warm, 8, WARM_SECONDS)
        distinct = iter(server.distinct)
        for concurrency in (1, 8):
            paths = [next(distinct) for _ in range(len(server.distinct) // 2)]
            results[f"uncached rows c={concurrency}"] = load(port, paths, concurrency, seconds, process.pid)
        return results
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def report(all_results: dict[str, dict], reference: str | None) -> None:
    columns = ["uncached rows c=1", "uncached rows c=8", "cached rows c=1", "cached rows c=8", "detail c=1", "detail c=8"]
    print("\n| server | " + " | ".join(f"{c} req/s (p50 / p99 ms)" for c in columns) + " | load (1 min) after |")
    print("|---|" + "---|" * (len(columns) + 1))
    for name, results in all_results.items():
        cells = []
        for column in columns:
            r = results[column]
            ratio = ""
            if reference and name != reference and reference in all_results:
                ratio = f", {r['rps'] / all_results[reference][column]['rps']:.2f}x"
            errors = f", {r['errors']} errors" if r["errors"] else ""
            cells.append(f"{r['rps']:.0f}{ratio} ({r['p50']:.1f} / {r['p99']:.1f}){errors}")
        print(f"| {name} | " + " | ".join(cells) + f" | {results['load']['load average'][0]:.1f} |")
    print("\nServer CPU ms per request (all its processes and threads), same measurements:\n")
    print("| server | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, results in all_results.items():
        print(f"| {name} | " + " | ".join(f"{results[c]['cpu_ms']:.2f}" for c in columns) + " |")
    pairs = [(name, name.split(",")[0]) for name in all_results
             if not name.endswith("no limiter") and f"{name.split(',')[0]}, no limiter" in all_results]
    if pairs:
        print("\nWhat the limiter costs: 1 - (CPU per request without it / with it), the throughput lost when the "
              "CPU is the bottleneck (in brackets 1 - rate with it / rate without, noisier):\n")
        print("| server | " + " | ".join(columns) + " |")
        print("|---|" + "---|" * len(columns))
        for name, base in pairs:
            on, off = all_results[name], all_results[f"{base}, no limiter"]
            cells = [f"{100 * (1 - off[c]['cpu_ms'] / on[c]['cpu_ms']):+.0f} % ({100 * (1 - on[c]['rps'] / off[c]['rps']):+.0f} %)"
                     if on[c]["cpu_ms"] and off[c]["rps"] else "–" for c in columns]
            print(f"| {name} | " + " | ".join(cells) + " |")


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole set (interleaved servers)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "kaifang-bench" / "api")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="Redis for the 'Redis limiter' servers (skipped when none answers; '' to skip)")
    parser.add_argument("--only", default="", help="measure only the servers whose name contains one of these "
                                                   "comma-separated words (Datasette is always kept as the reference)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    instance = prepare_instance(args.dir)
    database = prepare_sqlite(args.dir, instance)
    datasette = prepare_datasette(args.dir)
    redis = args.redis if args.redis and redis_available(args.redis) else None
    if args.redis and redis is None:
        print(f"no Redis at {args.redis}: the Redis limiter rows are skipped", file=sys.stderr)
    chosen = servers(instance, database, datasette, redis)
    if args.only:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        chosen = [s for s in chosen if s.name.startswith("Datasette") or any(w in s.name for w in words)]
    print(f"load average at start: {os.getloadavg()}, cpus: {os.cpu_count()}")
    for round_number in range(args.rounds):
        all_results = {}
        for server in chosen:
            print(f"round {round_number + 1}: {server.name}", file=sys.stderr)
            all_results[server.name] = measure(server, args.seconds)
            all_results[server.name]["load"] = {"load average": os.getloadavg()}
        report(all_results, "Datasette 0.65.5" if datasette else None)
        if args.json:
            args.json.write_text(json.dumps(all_results, indent=2))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
