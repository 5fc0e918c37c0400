"""A `kaifang load` killed mid-way: the old version is still served, nothing partial is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Version
from portal.db import session_scope
from tests.factories import CSV, dataset_folder, load

pytestmark = pytest.mark.slow


def _big_csv(path: Path, rows: int = 3_000_000) -> None:
    line = "010105,红桥区,530000,1404-12-23\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(CSV.splitlines()[0] + "\n")
        for _ in range(rows // 10_000):
            handle.write(line * 10_000)


def test_killed_load_keeps_the_served_version(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src"))
    data_dir = Path(app.config["DATA_DIR"])
    before = sorted(p.name for p in (data_dir / "districts").iterdir())
    big = tmp_path / "big.csv"
    _big_csv(big)
    env = {**os.environ, "KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": "kill-test",
           "KAIFANG_DATA_DIR": str(data_dir), "KAIFANG_DATABASE_URL": app.config["DATABASE_URL"]}
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "load", str(big), "--dataset", "districts"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith(".tmp-") for p in (data_dir / "districts").iterdir()):
        time.sleep(0.01)
    saw_temp = any(p.name.startswith(".tmp-") for p in (data_dir / "districts").iterdir())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert saw_temp and proc.returncode == -signal.SIGKILL, "the load must be killed while it writes"

    client = app.test_client()
    rows = client.get("/api/v1/datasets/districts/rows").json
    assert rows["version"] == 1 and rows["total"] == 3
    with session_scope(app) as session:
        assert session.scalar(select(func.count()).select_from(Version)) == 1
    from portal.catalog.setup import sweep_data

    sweep_data(app)
    assert sorted(p.name for p in (data_dir / "districts").iterdir()) == before
    with client.get("/datasets/districts/download/csv") as response:
        assert response.get_data(as_text=True).count("\n") == 4
