"""Cost of deciding whether a cell is snapped to a remembered one (decision 0025a).

    .venv/bin/python bench/memory_near.py [--cells 5000]

Fills a fresh SQLite memory with `--cells` remembered cells of 1 to 40 records (random record
keys, their tables computed as the store would), then times `Registry.near` for three kinds of
new cell, each in a fresh registry (so the size ranges are read from the database, as the first
query of a run does): far from every remembered cell, 3 records from one, and 12 records from
one (beyond the old radius of 9, within the new reach of 19). Prints the median CPU and wall milliseconds of 50 of each
beside the load average. Runs on the code before this round too (its `near` takes no
`listed`), for the comparison in docs/performance.md.
"""

from __future__ import annotations

import argparse
import inspect
import os
import random
import statistics
import tempfile
import time
from functools import reduce
from operator import xor

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from portal.analysis import differencing, memory
from portal.analysis.differencing import Remembered
from portal.analysis.models import MemoryClock, ReleasedCell
from portal.analysis.sketches import Sketch

SIGNATURE = "bench"


def cell(keys: list[int]) -> Remembered:
    return Remembered(SIGNATURE, len(keys), reduce(xor, keys, 0), Sketch.of(keys))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(7)
    new_key = lambda: rng.getrandbits(64)  # noqa: E731
    remembered = [[new_key() for _ in range(rng.randint(1, 40))] for _ in range(args.cells)]
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/memory.db")
        ReleasedCell.__table__.create(engine)
        MemoryClock.__table__.create(engine)  # the memory's clock (decision 0029y)
        with Session(engine) as session:
            filling = memory.registry(session, "bench")
            with filling.query(SIGNATURE):
                for keys in remembered:
                    filling.remember(cell(keys))
            anchor = next(keys for keys in remembered if len(keys) == 20)
            kinds = {"far": [new_key() for _ in range(20)], "3 apart": anchor[:17],
                     "12 apart": anchor[:14] + [new_key() for _ in range(6)]}
            takes_listed = "listed" in inspect.signature(differencing.Registry.near).parameters
            for name, keys in kinds.items():
                probe = cell(keys)
                cpu, wall = [], []
                for _ in range(50):
                    shared = memory.registry(session, "bench")
                    started, clock = time.process_time(), time.perf_counter()
                    with shared.query(SIGNATURE):
                        extra = (lambda records, key: records >= 10,) if takes_listed else ()
                        shared.near(SIGNATURE, probe.records, probe.key, probe.sketch, 10, *extra)
                    cpu.append((time.process_time() - started) * 1000)
                    wall.append((time.perf_counter() - clock) * 1000)
                    session.rollback()
                print(f"{name}: CPU {statistics.median(cpu):.2f} ms, wall {statistics.median(wall):.2f} ms "
                      f"(median of 50, {args.cells} cells); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
