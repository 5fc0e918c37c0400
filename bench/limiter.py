"""What rate limiting costs an API call: the same server with limits off, on for anonymous
callers, on for a key (memory://), and on for a key with Redis, measured in interleaved rounds.

    .venv/bin/python bench/limiter.py                     # 7 rounds of 400 calls per config
    .venv/bin/python bench/limiter.py --rounds 3 --calls 200 --concurrency 8
    .venv/bin/python bench/limiter.py --cpu               # CPU time per call, in process

On a busy machine wall-clock rates swing by 2x between rounds; `--cpu` measures instead the
process CPU time per call of the same four configurations through Flask's test client (no
network, no server threads), alternating in small batches, which load disturbs far less.

One temporary instance (SQLite, one bundled dataset, one developer key) is served by four
`kaifang serve` processes (Waitress) that differ only in their limit settings; limits are set so
high that nothing is refused. Each round measures every server in turn over keep-alive HTTP
connections (the dataset detail call `/api/v1/datasets/<slug>`); the median of the rounds is
reported with the cost against "off". The goal (issue "Developer API") is at most 10 %.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLUG = "china-smoking-lung-cancer"
HIGH = {"KAIFANG_RATELIMIT_ANON": "100000000/minute",
        "KAIFANG_RATELIMIT_TIERS": "developer=100000000/minute;1000000000/day"}


def _setup(instance: Path) -> str:
    from portal.auth import SYSTEM
    from portal.catalog import publishing
    from portal.db import session_scope
    from tests import factories
    from tests.conftest import make_app

    app = make_app(instance)
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, ROOT / "datasets" / SLUG, data_dir=Path(app.config["DATA_DIR"]))
    return factories.api_key(app, factories.user(app, "developer"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(instance: Path, extra: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {**os.environ, "KAIFANG_INSTANCE": str(instance), "KAIFANG_SECRET_KEY": "bench", **HIGH, **extra}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("kaifang")), "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _worker(port: int, headers: dict[str, str], calls: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(calls):
        conn.request("GET", f"/api/v1/datasets/{SLUG}", headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    conn.close()


def _rate(port: int, headers: dict[str, str], calls: int, concurrency: int) -> float:
    _worker(port, headers, 20)  # warm the connection, caches and the key cache
    threads = [threading.Thread(target=_worker, args=(port, headers, calls // concurrency)) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (calls // concurrency) * concurrency / (time.perf_counter() - start)


def _cpu(rounds: int, calls: int, redis: str) -> None:
    from tests.conftest import make_app

    high = {"RATELIMIT_ANON": HIGH["KAIFANG_RATELIMIT_ANON"], "RATELIMIT_TIERS": HIGH["KAIFANG_RATELIMIT_TIERS"]}
    with tempfile.TemporaryDirectory() as tmp:
        key = _setup(Path(tmp) / "instance")
        shared = {"DATABASE_URL": f"sqlite:///{Path(tmp) / 'instance' / 'kaifang.db'}",
                  "DATA_DIR": str(Path(tmp) / "instance" / "data"), **high}
        auth = {"Authorization": f"Bearer {key}"}
        configs = {
            "limits off": ({"RATELIMIT_ENABLED": False}, {}),
            "anonymous, memory://": ({}, {}),
            "key, memory://": ({}, auth),
            "key, redis://": ({"RATELIMIT_STORAGE_URI": redis, "RATELIMIT_KEY_PREFIX": f"bench-{os.getpid()}"}, auth),
        }
        clients = {name: (make_app(Path(tmp) / name.replace(" ", "").replace(",", "-").replace(":", "").replace("/", ""),
                                   **shared, **extra).test_client(), headers)
                   for name, (extra, headers) in configs.items()}
        per_call: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(rounds):
            for name, (client, headers) in clients.items():
                for _ in range(10):
                    client.get(f"/api/v1/datasets/{SLUG}", headers=headers)
                start = time.process_time()
                for _ in range(calls):
                    assert client.get(f"/api/v1/datasets/{SLUG}", headers=headers).status_code == 200
                per_call[name].append((time.process_time() - start) / calls * 1000)
    base = statistics.median(per_call["limits off"])
    print(f"dataset detail in process, CPU ms per call, median of {rounds} rounds x {calls} calls")
    for name, values in per_call.items():
        median = statistics.median(values)
        print(f"  {name:<22} {median:6.3f} ms  added {median - base:+.3f} ms  ({median / base - 1:+.1%} CPU,"
              f" i.e. {1 - base / median:.1%} less throughput)  [{min(values):.3f}-{max(values):.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--cpu", action="store_true", help="CPU time per call in process instead of HTTP rates")
    args = parser.parse_args()
    if args.cpu:
        _cpu(args.rounds, args.calls, args.redis)
        return
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        key = _setup(instance)
        auth = {"Authorization": f"Bearer {key}"}
        configs = {
            "limits off": ({"KAIFANG_RATELIMIT_ENABLED": "false"}, {}),
            "anonymous, memory://": ({}, {}),
            "key, memory://": ({}, auth),
            "key, redis://": ({"KAIFANG_RATELIMIT_STORAGE_URI": args.redis,
                               "KAIFANG_RATELIMIT_KEY_PREFIX": f"bench-{os.getpid()}"}, auth),
        }
        servers = {name: _serve(instance, extra) for name, (extra, _) in configs.items()}
        rates: dict[str, list[float]] = {name: [] for name in configs}
        try:
            for _ in range(args.rounds):
                for name, (_, headers) in configs.items():
                    rates[name].append(_rate(servers[name][1], headers, args.calls, args.concurrency))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=20)
    base = statistics.median(rates["limits off"])
    print(f"dataset detail, concurrency {args.concurrency}, median of {args.rounds} rounds x {args.calls} calls")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:<22} {median:8.1f} req/s  {1000 / median:6.2f} ms/call  cost {1 - median / base:+6.1%}"
              f"  [{min(values):.0f}-{max(values):.0f}]")


if __name__ == "__main__":
    main()
