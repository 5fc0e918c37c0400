"""Cost of writing the differencing memory through at each query (decision 0023e).

    .venv/bin/python bench/memory_per_query.py

Each "query" holds the memory (`Registry.query`), re-reads a size range, remembers two cells (a
count by sex) and a set answered like the first (an alias: the insert guarded by its cell,
`memory._insert`) and commits them, as `Broker._release` now does, on a fresh SQLite file (the
embedded deployment; production's PostgreSQL commits without a file sync). Prints process CPU
and wall time per query, the median of 200, three rounds, beside the load average.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from portal.analysis import memory
from portal.analysis.differencing import Remembered
from portal.analysis.models import MemoryClock, ReleasedCell
from portal.analysis.sketches import Sketch

SKETCH = Sketch((0,) * 60, (0,) * 60, (0,) * 60)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/memory.db")
        ReleasedCell.__table__.create(engine)
        MemoryClock.__table__.create(engine)
        with Session(engine) as session:
            shared = memory.registry(session, "bench")
            for round_ in range(3):
                cpu, wall = [], []
                for i in range(200):
                    started, clock = time.process_time(), time.perf_counter()
                    with shared.query("bench"):
                        shared.same("bench", 1, 5000)
                        first = None
                        for j in range(2):
                            records = 1000 + round_ * 1000 + i * 2 + j
                            cell = Remembered("bench", records, records, SKETCH, {"count": records})
                            shared.remember(cell)
                            first = first or cell
                        shared.alias(Remembered("bench", 7, 10**6 + round_ * 1000 + i, SKETCH), first)
                    cpu.append((time.process_time() - started) * 1000)
                    wall.append((time.perf_counter() - clock) * 1000)
                print(f"per query: CPU {statistics.median(cpu):.2f} ms, wall {statistics.median(wall):.2f} ms "
                      f"(median of 200); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
