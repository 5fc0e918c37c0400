"""Cost of the memory's search statement: its window taken by the check-aware bound against by size.

    .venv/bin/python bench/memory_window.py [--cells 2000 10000] [--reads 100] [--sqlite]

Decision 0030a takes the window of `memory._nearest` (the rows whose full spread is computed) by
the first part's lower bound (twenty differences a row) instead of by size (one), so that cells
nearer in size than a remembered cell but far from the set in records no longer push it out. The
window is ranked over every row of the range, so the difference grows with the rows remembered
near a set's size. This fills a fresh memory with `--cells` cells all within one set's reach
(the worst case: every row of the range is sorted), then times the statement as it stands and
the same statement with the window by size (the reference, rebuilt here), interleaved, on
SQLite and, when it answers, PostgreSQL (a scratch database, dropped after). Prints the medians
beside the load average.
"""

from __future__ import annotations

import argparse
import functools
import operator
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Integer, bindparam, create_engine, func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sessions import reachable, scratch_postgres  # noqa: E402
from portal.analysis import memory  # noqa: E402
from portal.analysis.differencing import Remembered  # noqa: E402
from portal.analysis.models import MemoryClock, ReleasedCell  # noqa: E402
from portal.analysis.sketches import BUCKETS, CHECK_MASK, PARTS, Sketch, first_part  # noqa: E402

SIGNATURE = "bench"
PAD = 1471
REACH = 19


def by_size():
    """`memory._nearest` as it was before decision 0030a: the window nearest in size."""
    size = func.abs(ReleasedCell.records - bindparam("records", type_=Integer))
    window = (select(ReleasedCell.id).where(
        ReleasedCell.key_fingerprint == bindparam("fingerprint"), ReleasedCell.signature == bindparam("signature"),
        ReleasedCell.records.between(bindparam("low", type_=Integer), bindparam("high", type_=Integer)))
        .order_by(size, ReleasedCell.id.desc()).limit(bindparam("window", type_=Integer)))
    spread = functools.reduce(operator.add, (memory._bucket_spread(i) for i in range(PARTS * BUCKETS)))
    return memory._with_cell(select(ReleasedCell).where(ReleasedCell.id.in_(window))
                             .order_by(func.coalesce(spread, 3 * size), size, ReleasedCell.id.desc())
                             .limit(bindparam("limit", type_=Integer)))


def fill(engine, cells: int, rng: random.Random) -> Sketch:
    """`cells` remembered cells of the pad's size ± 19, each the pad with 20 to 40 records swapped;
    returns the table of the pad plus one record (the set searched for)."""
    pad = [rng.getrandbits(64) for _ in range(PAD)]
    ReleasedCell.__table__.create(engine)
    MemoryClock.__table__.create(engine)  # the memory's clock (decision 0029y)
    with Session(engine) as session:
        filling = memory.registry(session, "bench")
        with filling.query(SIGNATURE):
            for _ in range(cells):
                out = rng.randint(10, 20)
                keys = pad[out:] + [rng.getrandbits(64) for _ in range(out + rng.randint(-REACH + 1, REACH - 1))]
                filling.remember(Remembered(SIGNATURE, len(keys), rng.getrandbits(64), Sketch.of(keys)))
    return Sketch.of([*pad, rng.getrandbits(64)])


def time_both(engine, table: Sketch, reads: int) -> dict[str, float]:
    records = PAD + 1
    params = {"fingerprint": "bench", "signature": SIGNATURE, "records": records, "low": records - REACH,
              "high": records + REACH, "reach": REACH, "window": memory.WINDOW, "limit": 32,
              **{f"n{i}": int(n) for i, n in enumerate(table.counts)},
              **{f"c{i}": int(c) & CHECK_MASK for i, c in enumerate(table.checks)},
              **{f"f{i}": f for i, f in enumerate(first_part(table))}}
    statements = {"by size (before)": by_size(), "by check-aware bound": memory._nearest()}
    times = {name: [] for name in statements}
    with engine.connect() as connection:
        for _ in range(reads):
            for name, statement in statements.items():
                started = time.perf_counter()
                connection.execute(statement, params).fetchall()
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--sqlite", action="store_true", help="SQLite only, even when PostgreSQL answers")
    args = parser.parse_args()
    for cells in args.cells:
        databases = [("SQLite", None)]
        if not args.sqlite and reachable(5432):
            databases.append(("PostgreSQL", scratch_postgres()))
        for name, scratch in databases:
            with tempfile.TemporaryDirectory() as folder:
                url, drop = scratch if scratch else (f"sqlite:///{folder}/memory.db", lambda: None)
                engine = create_engine(url)
                try:
                    figures = time_both(engine, fill(engine, cells, random.Random(cells)), args.reads)
                finally:
                    engine.dispose()
                    drop()
            print(f"{name:10} {cells:6} cells in reach: " + ", ".join(
                f"{label} p50 {ms:.2f} ms" for label, ms in figures.items()) + f"; load {os.getloadavg()[0]:.1f}",
                flush=True)


if __name__ == "__main__":
    main()
