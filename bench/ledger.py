"""What spending the cell budget into the ledger at each query costs (decision 0022d).

    .venv/bin/python bench/ledger.py [--takes 500]

On a temporary embedded instance (SQLite, removed afterwards): one grant of the clinic visits,
then `LedgerBudget.take` of 48 cells repeated — one conditional UPDATE and the grant check in
their own transaction, as the broker does for every charged query of a run. Prints CPU and wall
time per take and the 1-minute load average; figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.access.service import grant_access  # noqa: E402
from portal.analysis.budget import LedgerBudget  # noqa: E402
from portal.auth import SYSTEM  # noqa: E402
from portal.catalog import publishing  # noqa: E402
from portal.db import session_scope  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import DATASETS, make_app  # noqa: E402

CLINIC = "clinic-visits-synthetic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=500)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kaifang-ledger-"))
    try:
        app = make_app(root / "instance")
        with app.app_context(), session_scope(app) as session:
            publishing.load_package(session, SYSTEM, DATASETS / CLINIC, data_dir=Path(app.config["DATA_DIR"]))
        email = factories.user(app, "developer")
        with app.app_context(), session_scope(app) as session:
            grant = grant_access(session, SYSTEM, email=email, slug=CLINIC, days=5, purpose="bench",
                                 daily_cell_budget=10**9, disclosure_mode=None, daily_epsilon=None)
            engine = session.get_bind()
        budget = LedgerBudget(engine, {grant: 10**9})
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.takes):
            assert budget.take([grant], 48)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{args.takes} takes ({engine.dialect.name}): CPU {1000 * cpu / args.takes:.2f} ms, "
              f"wall {1000 * wall / args.takes:.2f} ms per take; load {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
