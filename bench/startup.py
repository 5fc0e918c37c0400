"""Benchmark of command-line start-up and of one run through `submit_run` with the real broker.

Measures, in one sitting, with the load average printed beside every figure (the machine is
shared; CPU seconds, user + system, are steadier than wall time under load):
- `kaifang sandbox-run print(1)` end to end (a fresh process: import, core, DB, pool, run),
  twice: first with no bytecode of the project's own modules (an editable checkout under
  PYTHONDONTWRITEBYTECODE=1, as on the shared development machine, compiles every portal module
  on every start: the project's `__pycache__` folders are removed first), then with them
  compiled beforehand (`compileall`, into the git-ignored `__pycache__` folders), as an
  installed package has them (`pip install` compiles). The other commands use the compiled ones;
- `kaifang --help` (must list every command);
- the reference of the same sitting: `python -c pass`, and a process that imports what the
  command line imported eagerly before this change (jieba's dictionary through rjieba, opencc,
  pypinyin, alembic, openpyxl, opendp, and one argon2 hash), so "before" is measured here too;
- p50/p95 of a one-count run through `submit_run` (real broker, audit, pool) on a conditional
  dataset (padded to the answer quantum, ANALYSIS_ANSWER_QUANTUM_MS) and on open data, in-process.

Usage: .venv/bin/python bench/startup.py [--repeat 5] [--runs 40] [--runs-only]
(`--runs-only`: the runs through `submit_run` alone, wall and this process's CPU; it replaced
`bench/submit_run_cpu.py`, whose grant fell in the ε mode's daily budget after one run.)
Needs an instance (KAIFANG_INSTANCE) with clinic-visits-synthetic loaded and a developer
`bench@example.org`; `--setup` makes one in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The benchmark's own loads write no download files afterwards: `kaifang load` would start
# `kaifang export-cache` in the background (a minute of CPU for the flights XLSX), which ran
# beside the measurements and slowed them.
QUIET_LOAD = {"KAIFANG_EXPORT_CACHE_AFTER_LOAD": "false"}

sys.path[0] = str(ROOT)  # not bench/: its sandbox.py would shadow the sandbox package
VENV_BIN = Path(sys.executable).parent
EAGER = ("import rjieba, opencc, pypinyin.core, alembic.command, openpyxl, opendp.prelude, portal.cli; "
         "rjieba.cut('开放数据'); opencc.OpenCC('t2s'); from argon2 import PasswordHasher; PasswordHasher().hash('x')")


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr


def median_of(argv: list[str], env: dict[str, str], repeat: int) -> dict[str, float | str]:
    samples = [timed(argv, env) for _ in range(repeat)]
    return {"wall_s": round(statistics.median(s[0] for s in samples), 3),
            "cpu_s": round(statistics.median(s[1] for s in samples), 3), "load": load(), "out": samples[-1][2]}


def setup(instance: Path, env: dict[str, str]) -> None:
    kaifang = str(VENV_BIN / "kaifang")
    subprocess.run([kaifang, "init"], env=env, check=True, capture_output=True)
    subprocess.run([kaifang, "load", str(ROOT / "datasets" / "clinic-visits-synthetic")], env=env, check=True,
                   capture_output=True)
    subprocess.run([kaifang, "load", str(ROOT / "datasets" / "nyc-flights-2013")], env=env, check=True,
                   capture_output=True)
    subprocess.run([kaifang, "create-user", "bench@example.org", "--role", "developer", "--password",
                    "bench-password-1"], env=env, check=True, capture_output=True)


def submit_runs(runs: int) -> dict[str, dict]:
    """p50/p95 of a one-count run through `submit_run`, in this process: conditional data in the
    statistical mode (the issue's goal), in the ε-budget mode (the bundled clinic visits' declared
    mode since decision 0030q; a budget no run of the bench spends) and open data."""
    from portal import create_app
    from portal.access.service import grant_access
    from portal.accounts import service as accounts
    from portal.analysis.runtime import AnalysisSettings
    from portal.analysis.service import submit_run
    from portal.auth import SYSTEM
    from portal.db import session_scope
    from portal.errors import Conflict, Forbidden

    app = create_app()
    settings = AnalysisSettings.from_config(app.config)
    clinic, flights = "clinic-visits-synthetic", "nyc-flights-2013"
    out = {}
    with app.app_context(), session_scope(app) as session:
        for email, mode in (("bench@example.org", "sdc"), ("bench-dp@example.org", "dp")):
            try:
                accounts.create_user(session, SYSTEM, email=email, password="bench-password-1", role="developer")
            except Conflict:
                pass  # made by the set-up, or by an earlier sitting
            try:
                grant_access(session, SYSTEM, email=email, slug=clinic, days=1, purpose="benchmark",
                             disclosure_mode=mode, daily_epsilon=1e6, lifetime_epsilon=1e9)
            except Forbidden:
                pass
        actors = {mode: accounts.authenticate(session, email, "bench-password-1")
                  for email, mode in (("bench@example.org", "sdc"), ("bench-dp@example.org", "dp"))}
        for name, slug, actor in ((f"{clinic} (statistical mode)", clinic, actors["sdc"]),
                                  (f"{clinic} (ε-budget mode)", clinic, actors["dp"]),
                                  (flights, flights, actors["sdc"])):
            code = f"print(dataset({slug!r}).count())"
            for _ in range(3):  # warm the pool, the DuckDB connection and the caches
                submit_run(session, actor, code=code, datasets=[slug], settings=settings)
            samples, cpu = [], []
            for _ in range(runs):
                started, spent = time.perf_counter(), time.process_time()
                result = submit_run(session, actor, code=code, datasets=[slug], settings=settings).result
                samples.append(time.perf_counter() - started)
                cpu.append(time.process_time() - spent)
                assert result["status"] == "ok", result
            cuts = statistics.quantiles(samples, n=20)
            # CPU: this process's, all threads (DuckDB's too; the sandbox workers are others)
            out[name] = {"p50_ms": round(statistics.median(samples) * 1000, 1), "p95_ms": round(cuts[18] * 1000, 1),
                         "cpu_p50_ms": round(statistics.median(cpu) * 1000, 1), "n": runs, "load": load()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--setup", action="store_true", help="make a fresh instance in a temporary folder")
    parser.add_argument("--runs-only", action="store_true",
                        help="only the runs through submit_run (wall and CPU), not the command line's start-up")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.setup:
        env["KAIFANG_INSTANCE"] = str(Path(tempfile.mkdtemp(prefix="kaifang-bench-")) / "instance")
        env.update(QUIET_LOAD)
        setup(Path(env["KAIFANG_INSTANCE"]), env)
        os.environ["KAIFANG_INSTANCE"] = env["KAIFANG_INSTANCE"]
    if args.runs_only:
        print(json.dumps({"submit_run one count": submit_runs(args.runs)}, indent=2, ensure_ascii=False))
        return
    source = Path(tempfile.mkdtemp()) / "one.py"
    source.write_text("print(1)\n", encoding="utf-8")
    python, kaifang = str(VENV_BIN / "python"), str(VENV_BIN / "kaifang")
    run = [kaifang, "sandbox-run", str(source), "--user", "bench@example.org"]
    for package in ("portal", "sandbox"):
        for cache in (ROOT / package).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    figures = {"kaifang sandbox-run print(1), project not compiled":
               median_of(run, {**env, "PYTHONDONTWRITEBYTECODE": "1"}, args.repeat)}
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "portal"), str(ROOT / "sandbox")], env=env,
                   check=True, capture_output=True)
    figures |= {
        "python -c pass": median_of([python, "-c", "pass"], env, args.repeat),
        "reference: eager imports of before": median_of([python, "-c", EAGER], env, args.repeat),
        "kaifang --help": median_of([kaifang, "--help"], env, args.repeat),
        "kaifang sandbox-run print(1)": median_of(run, env, args.repeat),
    }
    for name in ("kaifang sandbox-run print(1)", "kaifang sandbox-run print(1), project not compiled"):
        assert "1" in figures[name]["out"], figures[name]["out"]
    assert "sandbox-run" in figures["kaifang --help"]["out"]
    for figure in figures.values():
        figure.pop("out")
    figures["submit_run one count"] = submit_runs(args.runs)
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
