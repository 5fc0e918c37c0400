"""What the rate limiter costs an API call (issue "Developer API", goal 9b: at most 10 % of throughput).

    .venv/bin/python bench/api_limiter.py --cpu 7 --calls 150        # in process: CPU per request
    .venv/bin/python bench/api_limiter.py --cpu 7 --key               # ... also with an API key (two windows)
    .venv/bin/python bench/api_limiter.py --http 5 --seconds 2        # over HTTP: server CPU per request
    .venv/bin/python bench/api_limiter.py --cpu 7 --baseline /path/to/checkout   # before / after
    .venv/bin/python bench/api_limiter.py --http 5 --baseline /path/to/checkout

Every mode compares the same requests with limits off, on `memory://` and on Redis (when one
answers at --redis; under a key prefix of the run's own), interleaved round by round so the load
of this shared machine hits them alike, and prints medians over the rounds with the cost,
1 - CPU without the limiter / with it (the throughput lost where the CPU is the bottleneck).

- `--cpu ROUNDS`: in this process through Flask's test client (no network, no server threads):
  the row page never served before (one sequence of pages shared by the configurations), the
  cached rows page and the dataset detail call, `--calls` each per configuration and round.
  `--key` adds the anonymous configurations' keyed twins (a developer key: a minute and a day window,
  the key lookup, usage counting).
- `--http ROUNDS`: `kaifang serve` (Waitress, 8 threads) and gunicorn (`-w 2 -k gthread --threads
  4`), each without the limiter, with `memory://` and with Redis, all running at once; the cached
  rows page and the detail call at concurrency 1 and 8 for `--seconds` each, the order of the
  servers rotating each round; the server's CPU per request (all its processes, from /proc) and
  the rate. (The page never served before differs from request to request, and so does its cost:
  over HTTP it does not measure the limiter.)
- `--baseline DIR`: the same with the code of another checkout (DIR, e.g. a `git worktree` of main)
  as "before" and this one as "after", interleaved: over HTTP both sets of servers run at once
  (PYTHONPATH and working directory DIR for "before").

In process, each round runs in a child process of its own (one per checkout, alternating), so
every round starts with cold caches and the page never served before really never was.

The instance is bench/api.py's (the NYC flights table, made once under --dir). Figures go in
docs/performance.md with the load average, which the tables print.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as bench  # noqa: E402 - the HTTP benchmark's instance, servers and load generator

ROOT = bench.ROOT
HIGH = {"KAIFANG_RATELIMIT_ANON": "10000000/minute",
        "KAIFANG_RATELIMIT_TIERS": "developer=10000000/minute;1000000000/day"}
KINDS_HTTP = {"cached rows": bench.KAIFANG_ROWS, "detail": bench.KAIFANG_DETAIL}
SERVED_BY = ("kaifang serve", "gunicorn -w 2")
BATCH = 10  # calls of one configuration in a row (--cpu)


def cpu_configs(redis: str | None, key: bool, tag: str) -> dict[str, dict[str, str]]:
    """In-process configurations: name → environment overrides."""
    configs = {"limits off": {"KAIFANG_RATELIMIT_ENABLED": "0"}, "memory://": {}}
    if redis:
        configs["Redis"] = bench.redis_env(redis, tag)
    if key:
        configs["key, memory://"] = {}
        if redis:
            configs["key, Redis"] = bench.redis_env(redis, f"{tag}-key")
    return configs


def cpu_round(instance: Path, redis: str | None, calls: int, key: bool, code: Path, tag: str = "") -> dict:
    """One round in this (child) process, every configuration in turn: {kind: {config: CPU ms per call}}."""
    configs = cpu_configs(redis, key, tag)
    clients = _in_process_clients(instance, configs, code, key)
    fresh, warm = iter(bench.KAIFANG_DISTINCT), itertools.cycle(bench.KAIFANG_WARM)
    for client, headers in clients.values():
        for _ in range(30):
            client.get(next(warm), headers=headers)
    kinds = {"uncached rows": lambda: next(fresh), "cached rows": lambda: bench.KAIFANG_ROWS,
             "detail": lambda: bench.KAIFANG_DETAIL}
    figures: dict[str, dict[str, float]] = {kind: dict.fromkeys(clients, 0.0) for kind in kinds}
    names = list(clients)
    for kind, path in kinds.items():
        # The configurations alternate in batches, the first of each batch rotating, so that no
        # configuration is always the one measured first after another (cold caches).
        for batch in range(max(1, calls // BATCH)):
            for name in names[batch % len(names):] + names[:batch % len(names)]:
                client, headers = clients[name]
                began = time.process_time()
                for _ in range(BATCH):
                    assert client.get(path(), headers=headers).status_code == 200
                figures[kind][name] += time.process_time() - began
    return {kind: {name: 1000 * total / (max(1, calls // BATCH) * BATCH) for name, total in by_name.items()}
            for kind, by_name in figures.items()}


def _in_process_clients(instance: Path, configs: dict[str, dict[str, str]], code: Path, key: bool) -> dict:
    """A Flask test client and its request headers per configuration, all on `instance`, with the
    portal of checkout `code`."""
    os.environ.update({"KAIFANG_INSTANCE": str(instance), **HIGH})
    sys.path.insert(0, str(code))
    from portal import create_app

    clients = {}
    for name, extra in configs.items():
        os.environ.update(extra)
        clients[name] = create_app().test_client(), {}
        for variable in extra:
            os.environ.pop(variable)
    if key:
        from tests import factories

        app = clients["memory://"][0].application
        secret = factories.api_key(app, factories.user(app, "developer"))
        for name in configs:
            if name.startswith("key"):
                clients[name] = clients[name][0], {"Authorization": f"Bearer {secret}"}
    return clients


def cpu(instance: Path, redis: str | None, rounds: int, calls: int, key: bool, baseline: Path | None) -> None:
    codes = {"after": ROOT} if baseline is None else {"before": baseline, "after": ROOT}
    per_call: dict[tuple[str, str, str], list[float]] = {}
    loads = []
    for number in range(rounds):
        order = list(codes.items())[number % len(codes):] + list(codes.items())[:number % len(codes)]
        for label, code in order:
            figures = _child_round(instance, redis, calls, key, code, label)
            for kind, by_name in figures.items():
                for name, value in by_name.items():
                    per_call.setdefault((label, kind, name), []).append(value)
        loads.append(os.getloadavg()[0])
        print(f"round {number + 1} done, load average {loads[-1]:.1f}", file=sys.stderr)
    names = list(cpu_configs(redis, key, ""))
    print(f"\nIn process, CPU ms per request, median of {rounds} interleaved rounds x {calls} calls (load average "
          f"{min(loads):.1f}-{max(loads):.1f}); in brackets the cost, 1 - CPU without the limiter / with it\n")
    print("| request | " + " | ".join(f"{label}: {name}" for label in codes for name in names) + " |")
    print("|---|" + "---|" * (len(codes) * len(names)))
    for kind in ("uncached rows", "cached rows", "detail"):
        cells = []
        for label in codes:
            base = statistics.median(per_call[label, kind, "limits off"])
            for name in names:
                median = statistics.median(per_call[label, kind, name])
                cells.append(f"{median:.2f}" + ("" if name == "limits off" else f" ({100 * (1 - base / median):+.0f} %)"))
        print(f"| {kind} | " + " | ".join(cells) + " |")


def _child_round(instance: Path, redis: str | None, calls: int, key: bool, code: Path, label: str) -> dict:
    """One in-process round in a child process running the portal of checkout `code`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--child", out.name, "--instance", str(instance), "--calls", str(calls),
                   "--code", str(code), "--tag", label, "--redis", redis or ""] + (["--key"] if key else [])
        env = {**os.environ, "PYTHONPATH": str(code)}
        subprocess.run(command, check=True, env=env, cwd=code)
        return json.loads(Path(out.name).read_text())


def http(instance: Path, redis: str | None, rounds: int, seconds: float, baseline: Path | None) -> None:
    """Each server with and without the limiter (and with Redis), running at once, measured in
    turn round by round with the order rotating (see module doc)."""
    codes = {"after": ROOT} if baseline is None else {"before": baseline, "after": ROOT}
    chosen = []
    for label, code in codes.items():
        for server in bench.servers(instance, instance, None, None):
            if server.name.split(",")[0] not in SERVED_BY:
                continue
            env = {**server.env, **HIGH, "PYTHONPATH": str(code)}
            chosen.append(dataclasses.replace(server, name=f"{label}: {server.name}", env=env, cwd=code))
            if redis and server.name.endswith("no limiter"):
                on_redis = {**env, **bench.redis_env(redis, f"-{label}-{len(chosen)}")}
                on_redis.pop("KAIFANG_RATELIMIT_ENABLED")
                chosen.append(dataclasses.replace(server, name=f"{label}: {server.name.split(',')[0]}, Redis limiter",
                                                  env=on_redis, cwd=code))
    running: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for server in chosen:
            running[server.name] = bench.start(server)
            bench.check(server, running[server.name][1])
        figures, loads = _interleaved(running, rounds, seconds)
    finally:
        bench.stop_all([process for process, _ in running.values()])
    print(f"\nOver HTTP, server CPU ms per request, median of {rounds} interleaved rounds x {seconds:g} s (load "
          f"average {min(loads):.1f}-{max(loads):.1f}); in brackets the limiter's cost: 1 - CPU without it / "
          "with it, and 1 - median rate with it / without\n")
    columns = [(kind, c) for kind in KINDS_HTTP for c in (1, 8)]
    print("| server | " + " | ".join(f"{kind} c={c}" for kind, c in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name in sorted(running, key=lambda n: (n.split(":")[0] != "before", n.split(",")[0], _order(n))):
        print(f"| {name} | " + " | ".join(_cost_cell(figures, kind, c, name) for kind, c in columns) + " |")
    for label in codes:
        for storage in ("memory", "Redis"):
            costs = [_cost(figures, kind, c, name)[0] for kind, c in columns for name in running
                     if name.startswith(label) and _order(name) == (1 if storage == "memory" else 2)]
            print(f"{label}, {storage}: median cost by CPU over {len(costs)} cells {statistics.median(costs):+.0f} %"
                  f" (cells {min(costs):+.0f} to {max(costs):+.0f} %)")


def _order(name: str) -> int:
    return 0 if name.endswith("no limiter") else 2 if name.endswith("Redis limiter") else 1


def _interleaved(running: dict[str, tuple[subprocess.Popen, int]], rounds: int,
                 seconds: float) -> tuple[dict[tuple[str, int, str], list[dict]], list[float]]:
    for _, port in running.values():
        for path in KINDS_HTTP.values():
            bench.load(port, [path], 8, 1.0)  # warm-up: connections, caches, pages
    figures: dict[tuple[str, int, str], list[dict]] = {}
    names, loads = list(running), []
    for number in range(rounds):
        order = names[number % len(names):] + names[:number % len(names)]
        for kind, path in KINDS_HTTP.items():
            for concurrency in (1, 8):
                for name in order:
                    process, port = running[name]
                    figures.setdefault((kind, concurrency, name), []).append(
                        bench.load(port, [path], concurrency, seconds, process.pid))
        loads.append(os.getloadavg()[0])
        print(f"round {number + 1} done, load average {loads[-1]:.1f}", file=sys.stderr)
    return figures, loads


def _cost(figures: dict, kind: str, concurrency: int, name: str) -> tuple[float, float]:
    """The limiter's cost by CPU and by rate, in per cent, against the same server without it."""
    base = f"{name.split(',')[0]}, no limiter"
    cpu_on = statistics.median(r["cpu_ms"] for r in figures[kind, concurrency, name])
    cpu_off = statistics.median(r["cpu_ms"] for r in figures[kind, concurrency, base])
    rate_on = statistics.median(r["rps"] for r in figures[kind, concurrency, name])
    rate_off = statistics.median(r["rps"] for r in figures[kind, concurrency, base])
    return 100 * (1 - cpu_off / cpu_on), 100 * (1 - rate_on / rate_off)


def _cost_cell(figures: dict, kind: str, concurrency: int, name: str) -> str:
    cpu_ms = statistics.median(r["cpu_ms"] for r in figures[kind, concurrency, name])
    if name.endswith("no limiter"):
        return f"{cpu_ms:.2f}"
    by_cpu, by_rate = _cost(figures, kind, concurrency, name)
    return f"{cpu_ms:.2f} ({by_cpu:+.0f} % / {by_rate:+.0f} %)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", type=int, metavar="ROUNDS", default=0, help="in process, this many rounds")
    parser.add_argument("--http", type=int, metavar="ROUNDS", default=0, help="over HTTP, this many rounds")
    parser.add_argument("--calls", type=int, default=150, help="calls per request kind, configuration and round (--cpu)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each measurement (--http)")
    parser.add_argument("--key", action="store_true", help="--cpu: also the keyed configurations")
    parser.add_argument("--baseline", type=Path, help="a checkout whose code is measured as 'before'")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis ('' or none answering: skipped)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "kaifang-bench" / "api")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # one --cpu round, figures to this file
    parser.add_argument("--instance", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = cpu_round(args.instance, args.redis or None, args.calls, args.key, args.code, f"-{args.tag}")
        args.child.write_text(json.dumps(figures))
        return
    if not (args.cpu or args.http):
        parser.error("say --cpu ROUNDS or --http ROUNDS")
    args.dir.mkdir(parents=True, exist_ok=True)
    instance = bench.prepare_instance(args.dir)
    redis = args.redis if args.redis and bench.redis_available(args.redis) else None
    if args.redis and redis is None:
        print(f"no Redis at {args.redis}: the Redis configurations are skipped", file=sys.stderr)
    baseline = args.baseline.resolve() if args.baseline else None
    if args.cpu:
        cpu(instance, redis, args.cpu, args.calls, args.key, baseline)
    if args.http:
        http(instance, redis, args.http, args.seconds, baseline)


if __name__ == "__main__":
    main()
