"""CPU time of one count through `submit_run` (real broker, audit, memory, pool), per run.

    KAIFANG_INSTANCE=... .venv/bin/python bench/submit_run_cpu.py [runs]

The process's CPU time (user + system of all its threads, DuckDB's included; the sandbox
workers are other processes) and the wall time of each run, medians, for a one-count run on
the conditional clinic visits and on the open NYC flights, beside the load average: on a shared
machine CPU time is what compares. To compare two versions of the code in one sitting, run it
alternately with PYTHONPATH pointing at each checkout (the instance is shared; decision 0024a
did so with a worktree of main). Needs an instance with both datasets loaded and a developer
`bench@example.org` with the password `bench-password-1` (`bench/startup.py --setup` makes one).
The bench user's queries of the day accumulate in the audit: after about 400 of them, every run
compares its queries with the 400 latest ones (`audit._across_runs`), as a busy analyst's does.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.pop(0)  # not bench/: its sandbox.py would shadow the package; portal comes from PYTHONPATH or the install


def main(runs: int) -> None:
    import portal
    from portal import create_app
    from portal.access.service import grant_access
    from portal.accounts import service as accounts
    from portal.analysis.runtime import AnalysisSettings
    from portal.analysis.service import submit_run
    from portal.auth import SYSTEM
    from portal.db import session_scope
    from portal.errors import Forbidden

    app = create_app()
    settings = AnalysisSettings.from_config(app.config)
    out: dict[str, object] = {"code": str(Path(portal.__file__).parent.parent)}
    with app.app_context(), session_scope(app) as session:
        actor = accounts.authenticate(session, "bench@example.org", "bench-password-1")
        try:
            grant_access(session, SYSTEM, email="bench@example.org", slug="clinic-visits-synthetic", days=1,
                         purpose="benchmark")
        except Forbidden:
            pass
        for slug in ("clinic-visits-synthetic", "nyc-flights-2013"):
            code = f"print(dataset({slug!r}).count())"
            for _ in range(3):  # warm the pool, the DuckDB connection and the caches
                submit_run(session, actor, code=code, datasets=[slug], settings=settings)
            wall, cpu = [], []
            for _ in range(runs):
                started, clock = time.process_time(), time.perf_counter()
                result = submit_run(session, actor, code=code, datasets=[slug], settings=settings).result
                wall.append(time.perf_counter() - clock)
                cpu.append(time.process_time() - started)
                assert result["status"] == "ok", result
            out[slug] = {"cpu_p50_ms": round(statistics.median(cpu) * 1000, 1),
                         "wall_p50_ms": round(statistics.median(wall) * 1000, 1), "load": round(os.getloadavg()[0], 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
