"""`kaifang sandbox-run print(1)` of two checkouts, alternated run by run (decision 0030v).

The machine is shared and its load moves within minutes, so the commands are run in turn —
reference, then each variant of this checkout — and the p50 of each is printed with the load
beside it. The variants: this checkout as installed (its command server takes the run once the
first command has started it; that first run is not counted), and the same with
`KAIFANG_COMMAND_SERVER=off` (the command's own process, as before the server).

Usage: .venv/bin/python bench/startup_ab.py --reference ../other-checkout [--runs 15] [--pause 1.0]
Needs an instance (KAIFANG_INSTANCE) with a developer `bench@example.org` (bench/startup.py
--setup makes one); both checkouts run against it, one after the other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(kaifang: Path, source: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(kaifang), "sandbox-run", str(source), "--user", "bench@example.org"], env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "\n1\n" not in f"\n{done.stdout}":
        sys.exit(f"{kaifang}: {done.returncode}\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", type=Path, required=True, help="the other checkout (its .venv/bin/kaifang)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between two commands")
    args = parser.parse_args()
    source = Path(tempfile.mkdtemp()) / "one.py"
    source.write_text("print(1)\n", encoding="utf-8")
    env = dict(os.environ)
    variants = {
        "reference": (args.reference / ".venv" / "bin" / "kaifang", env),
        "this checkout": (ROOT / ".venv" / "bin" / "kaifang", env),
        "this checkout, server off": (ROOT / ".venv" / "bin" / "kaifang", {**env, "KAIFANG_COMMAND_SERVER": "off"}),
    }
    for kaifang, variant_env in variants.values():  # the first run of each starts what it starts
        run(kaifang, source, variant_env)
    time.sleep(3)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.runs):
        for name, (kaifang, variant_env) in variants.items():
            time.sleep(args.pause)
            samples[name].append(run(kaifang, source, variant_env))
        loads.append(os.getloadavg()[0])
    for name, values in samples.items():
        print(f"{name:28s} p50 {statistics.median(values):.3f} s  min {min(values):.3f}  max {max(values):.3f}")
    print(f"load (1 min) {min(loads):.2f}-{max(loads):.2f}, {args.runs} runs each, alternated")


if __name__ == "__main__":
    main()
