"""Benchmark of the sandbox pool: latency of a trivial run and throughput with N workers.

Measures, in one process and one sitting:
- p50/p95 of a trivial run (`x = 1`) end to end through `Sandbox.run` (fork from the warm
  zygote, every isolation layer, compile, exec, report, reap);
- p50/p95 of one query run (`dataset(...).count()` answered by an in-memory broker);
- p50/p95 of a fresh `python3 -c pass` subprocess (whatever `python3` is on PATH, here a
  pyenv shell shim) and of this interpreter started directly, with and without `-I -S`, as
  the floor of "start a new process per run";
- runs per second with N workers driven by N threads.

Usage: .venv/bin/python bench/sandbox.py [--runs 200] [--workers 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox import RunRequest, Sandbox, SandboxConfig  # noqa: E402


class CountBroker:
    def execute(self, plan: dict) -> dict:
        return {"status": "ok", "count": 42}


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(statistics.median(samples) * 1000, 2),
            "p95_ms": round(cuts[94] * 1000, 2), "n": len(samples)}


def time_runs(pool: Sandbox, request: RunRequest, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = pool.run(request, CountBroker())
        samples.append(time.perf_counter() - start)
        if result.status != "ok":
            raise SystemExit(f"benchmark run failed: {result.message}")
    return percentiles(samples)


def time_fresh_python(command: list[str], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True)
        samples.append(time.perf_counter() - start)
    return {"command": " ".join(command), **percentiles(samples)}


def throughput(pool: Sandbox, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds
    request = RunRequest(code="x = sum(range(100))")

    def drive(index: int) -> None:
        while time.perf_counter() < stop:
            pool.run(request, CountBroker())
            done[index] += 1

    workers = [threading.Thread(target=drive, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return round(sum(done) / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    started = time.perf_counter()
    pool = Sandbox(SandboxConfig(workers=args.workers))
    start_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        report = {
            "pool_start_ms": start_ms,
            "isolation": pool.isolation,
            "trivial_run": time_runs(pool, RunRequest(code="x = 1"), args.runs),
            "one_query_run": time_runs(pool, RunRequest(
                code="n = dataset('people').count()", grants=("people",)), args.runs),
            "fresh_python3_c_pass": time_fresh_python(
                [shutil.which("python3") or "python3", "-c", "pass"], min(args.runs, 100)),
            "fresh_interpreter_c_pass": time_fresh_python(
                [sys.executable, "-c", "pass"], min(args.runs, 100)),
            "fresh_interpreter_I_S_c_pass": time_fresh_python(
                [sys.executable, "-I", "-S", "-c", "pass"], min(args.runs, 100)),
            f"runs_per_second_{args.workers}_workers": throughput(pool, args.workers,
                                                                  args.seconds),
        }
    finally:
        pool.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
