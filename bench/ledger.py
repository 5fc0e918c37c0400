"""What spending the cell budget into the ledgers at each query costs (decisions 0022d, 0030w).

    .venv/bin/python bench/ledger.py [--takes 500]

On a temporary embedded instance (SQLite, removed afterwards): one grant of the clinic visits,
then `LedgerBudget.take` of 48 cells repeated — the grant check and one conditional UPDATE per
ledger in their own transaction, as the broker does for every charged query of a run: the
grant's day alone (the budget without an owner, as before 0030w), then the three ledgers of a
run's budget (the account's total and day too), and the check before each plan
(`exhausted`, which reads them). Prints CPU and wall time per call and the 1-minute load
average; figures go in docs/performance.md.
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
from portal.analysis.budget import LedgerBudget, Owner  # noqa: E402
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
            owner = Owner(_user_id(session, email), _dataset_id(session))
        budgets = {"grant's day only": LedgerBudget(engine, {grant: 10**9}),
                   "three ledgers": LedgerBudget(engine, {grant: 10**9}, lifetime={grant: 10**12}, owners={grant: owner})}
        for name, budget in budgets.items():
            _time(f"take, {name}", args.takes, lambda b=budget: b.take([grant], 48), engine.dialect.name)
        _time("exhausted, three ledgers", args.takes,
              lambda: budgets["three ledgers"].exhausted([grant]) is None, engine.dialect.name)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _time(name: str, times: int, call, dialect: str) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(times):
        assert call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name}: {times} calls ({dialect}): CPU {1000 * cpu / times:.2f} ms, wall {1000 * wall / times:.2f} ms "
          f"per call; load {os.getloadavg()[0]:.1f}")


def _user_id(session, email: str) -> int:
    from portal.accounts.models import User

    return session.query(User.id).filter(User.email == email).scalar()


def _dataset_id(session) -> int:
    from portal.catalog.models import Dataset

    return session.query(Dataset.id).filter(Dataset.slug == CLINIC).scalar()


if __name__ == "__main__":
    main()
