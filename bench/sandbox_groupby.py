"""A two-key group-by through the whole sandbox path beside the same query in raw DuckDB.

    .venv/bin/python bench/sandbox_groupby.py                 # 10,000,000 rows (the real run)
    .venv/bin/python bench/sandbox_groupby.py --rows 200000 --runs 3

The taxi-trip CSV of `bench/store.py` (same generator, same cache directory) is loaded as an
OPEN dataset into a temporary instance. Then, alternately in one process: `submit_run` of
analyst code doing `group_by("district", "hour").agg(count(), mean("fare"), sum("fare"))`
(fork from the zygote, RestrictedPython, plan over the pipe, policy, the store's plan compiler,
audit record and ledger in SQLite), and the same GROUP BY in raw DuckDB on the same Parquet
file. Prints the median of each and their ratio; the goal is the sandbox within 1.5x of raw.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.store import CACHE, RAW_GROUP, taxi_csv  # noqa: E402
from portal import create_app, prepare_instance  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.analysis.keys import create_key_file  # noqa: E402
from portal.analysis.runtime import AnalysisSettings  # noqa: E402
from portal.analysis.service import submit_run  # noqa: E402
from portal.analysis.sources import analysis_source  # noqa: E402
from portal.auth import SYSTEM, Actor  # noqa: E402
from portal.catalog import publishing  # noqa: E402
from portal.db import session_scope  # noqa: E402

SLUG = "taxi-trips-bench"
ANALYST = "groupby-bench@example.org"
CODE = """
t = dataset("taxi-trips-bench").group_by("district", "hour").agg(count(), mean("fare"), sum("fare")).collect()
print(t.height)
"""
FIELDS = (("district", "string"), ("hour", "integer"), ("fare", "number"), ("distance", "number"),
          ("passengers", "integer"), ("note", "string"))


def package(root: Path, csv: Path) -> Path:
    """A dataset folder for the cached taxi CSV (linked, not copied)."""
    folder = root / SLUG
    folder.mkdir(parents=True)
    (folder / "trips.csv").symlink_to(csv)
    descriptor = {
        "name": SLUG, "title": "Taxi trips (benchmark)", "description": "Generated taxi trips for benchmarks.",
        "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "keywords": ["benchmark"],
        "resources": [{"name": "trips", "path": "trips.csv", "format": "csv", "encoding": "utf-8",
                       "schema": {"fields": [{"name": n, "type": t} for n, t in FIELDS]}}],
        "kaifang": {"title_zh": "出租车行程（基准测试）", "description_zh": "基准测试用生成数据", "theme": "transport",
                    "tags_zh": ["基准"], "open_class": "open", "update_frequency": "static",
                    "department": {"slug": "transport-bench", "name_zh": "交通委", "name_en": "Transport"},
                    "fields": {}},
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    return folder


def instance(root: Path, csv: Path):
    """(app, parquet path): a temporary instance with the taxi table loaded and an analyst."""
    app = create_app({"TESTING": True, "SECRET_KEY": "groupby-bench-secret"}, instance=root / "instance")
    prepare_instance(app)
    create_key_file(Path(app.config["INSTANCE_PATH"]))
    data_dir = Path(app.config["DATA_DIR"])
    with app.app_context(), session_scope(app) as session:
        started = time.perf_counter()
        publishing.load_package(session, SYSTEM, package(root, csv), data_dir=data_dir)
        print(f"loaded {SLUG} in {time.perf_counter() - started:.1f} s")
        accounts.create_user(session, SYSTEM, email=ANALYST, password="groupby-bench-password", role="developer")
        path = analysis_source(session, SLUG, data_dir=data_dir).table.path
    return app, path


def sandbox_once(app) -> tuple[float, int]:
    """(seconds, groups) of one end-to-end run through `submit_run`."""
    with app.app_context(), session_scope(app) as session:
        user = session.scalar(select(User).where(User.email == ANALYST))
        actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
        started = time.perf_counter()
        outcome = submit_run(session, actor, code=CODE, datasets=[SLUG], settings=AnalysisSettings.from_config(app.config))
        elapsed = time.perf_counter() - started
    if outcome.result["status"] != "ok":
        raise SystemExit(f"sandbox run failed: {outcome.result}")
    return elapsed, int(outcome.result["stdout"].strip())


def raw_once(path: Path) -> tuple[float, int]:
    """(seconds, groups) of the same GROUP BY in a fresh raw DuckDB connection."""
    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(RAW_GROUP, [str(path)]).fetchall()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each, alternating")
    parser.add_argument("--dir", type=Path, default=CACHE, help="the taxi CSV cache shared with bench/store.py")
    options = parser.parse_args()
    csv = taxi_csv(options.dir, options.rows)
    with tempfile.TemporaryDirectory(dir=options.dir) as scratch:
        app, path = instance(Path(scratch), csv)
        sandbox_once(app), raw_once(path)  # warm-up: page cache, zygote, first connection
        sandbox, raw = [], []
        for _ in range(options.runs):
            seconds, groups = sandbox_once(app)
            sandbox.append(seconds)
            raw_seconds, raw_groups = raw_once(path)
            raw.append(raw_seconds)
            assert groups == raw_groups, (groups, raw_groups)
    s, r = statistics.median(sandbox), statistics.median(raw)
    print(f"rows {options.rows:,}, groups {groups}, runs {options.runs}")
    print(f"sandbox (submit_run, end to end): median {s * 1000:.0f} ms  (min {min(sandbox) * 1000:.0f})")
    print(f"raw DuckDB on the same Parquet:   median {r * 1000:.0f} ms  (min {min(raw) * 1000:.0f})")
    print(f"ratio sandbox / raw: {s / r:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
