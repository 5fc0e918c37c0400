"""Two checkouts' trivial cell over HTTP side by side, one cell on each in turn, so the load of a
shared machine falls on both alike (the A/B of docs/decisions/0030r).

    .venv/bin/python bench/sessions_ab.py /path/to/checkout-a /path/to/checkout-b --samples 300

Each checkout needs its own `.venv` with itself installed (`pip install -e .`), since its
gunicorn and `kaifang run-worker` run from there. Each gets what `bench/sessions.py` sets up for
its production figure, started from that checkout: a scratch PostgreSQL database (PostgreSQL and
Redis must answer on 127.0.0.1), a Redis queue of its own, gunicorn -w 2 and the run worker.
Then one client alternates `print(1)` cells between them (POST /api/v1/sessions/{id}/runs, then
GET /api/v1/runs/{id}?wait=30) and prints per checkout the p50/p95 of the pair and the CPU its
server processes spent per cell (gunicorn, the run worker, the sandbox zygote and its workers,
from /proc), with the 1-minute load average along the way.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # `import sandbox` is the package
TICK = os.sysconf("SC_CLK_TCK")


def bench_of(checkout: Path, name: str):
    """That checkout's `bench/sessions.py`, running its servers from its own `.venv`."""
    spec = importlib.util.spec_from_file_location(name, checkout / "bench" / "sessions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.VENV_BIN = checkout / ".venv" / "bin"
    return module


def cpu_seconds(pids: list[int]) -> float:
    """User and system time of `pids` and of their reaped children (the zygote's workers)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / TICK


def descendants(pid: int) -> list[int]:
    found = []
    for child in map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()):
        found += [child, *descendants(child)]
    return found


def reconnecting(bench, port: int, key: str):
    """A client that opens its connection again when gunicorn closed it (keep-alive timeout)."""

    class Client(bench.Client):
        def call(self, method, path, body=None):
            try:
                return super().call(method, path, body)
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                return super().call(method, path, body)

    return Client(port, key)


def start_side(checkout: Path, bench, first, scratch: list) -> dict:
    """One checkout's servers on a scratch database, with a session open and warmed up."""
    work = Path(tempfile.mkdtemp(prefix="kaifang-bench-ab-"))
    database_url, drop = bench.scratch_postgres()
    scratch.append((work, drop))
    if database_url is None:
        raise SystemExit("PostgreSQL does not answer on 127.0.0.1:5432")
    instance, keys = first.prepare(work, database_url, 1)  # one schema: made by the first checkout
    env = bench.server_env(instance, database_url, bench.REDIS, f"kaifang-bench-ab-{uuid.uuid4().hex[:8]}")
    port, procs = bench.start(env, bench.REDIS)
    return {"name": str(checkout), "bench": bench, "port": port, "key": keys[0], "procs": procs, "times": []}


def warm(side: dict) -> None:
    side["client"] = reconnecting(side["bench"], side["port"], side["key"])
    side["session"] = side["client"].open([])
    for _ in range(15):  # both gunicorn workers, the pool, the connection
        side["client"].run(side["session"], "print(1)")
    side["pids"] = [pid for proc in side["procs"] for pid in (proc.pid, *descendants(proc.pid))]
    side["cpu"] = cpu_seconds(side["pids"])


def alternate(sides: list[dict], samples: int) -> list[float]:
    """`samples` cells on each side, in turn (the first side first every other round)."""
    loads = [os.getloadavg()[0]]
    for number in range(samples):
        for side in sides if number % 2 == 0 else sides[::-1]:
            started = time.perf_counter()
            side["client"].run(side["session"], "print(1)")
            side["times"].append(time.perf_counter() - started)
        if number % 50 == 49:
            loads.append(os.getloadavg()[0])
    return loads


def report(side: dict) -> str:
    ordered = sorted(side["times"])
    cpu = (cpu_seconds(side["pids"]) - side["cpu"]) / len(ordered) * 1000
    return (f"{side['name']}: p50 {statistics.median(ordered) * 1000:6.1f} ms  "
            f"p95 {ordered[int(0.95 * len(ordered))] * 1000:6.1f} ms  servers' CPU per cell {cpu:5.1f} ms  "
            f"(n={len(ordered)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs=2, type=Path)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    benches = [bench_of(checkout.resolve(), f"bench_{n}") for n, checkout in enumerate(args.checkouts)]
    sides, scratch = [], []
    try:
        for checkout, bench in zip(args.checkouts, benches, strict=True):
            sides.append(start_side(checkout, bench, benches[0], scratch))
        for side in sides:
            warm(side)
        loads = alternate(sides, args.samples)
        for side in sides:
            print(report(side))
        print("load " + " ".join(f"{load:.1f}" for load in loads))
    finally:
        for side in sides:
            side["bench"].stop(side["procs"])
        for work, drop in scratch:
            drop()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
