"""The search outbox's drain timer runs in processes that serve requests, never in commands.

`kaifang init` once printed "no such table: search_outbox": it builds the whole app before it
migrates, and the app started the drain timer, whose first tick (5 s later, or sooner with a
shorter `SEARCH_DRAIN_INTERVAL`) could come before the migration had created the table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from portal import create_app


def _drain_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "search-drain" and t.is_alive()]


def test_the_app_starts_no_drain_timer_before_its_first_request(tmp_path):
    before = set(_drain_threads())
    app = create_app({"SECRET_KEY": "test-secret", "SEARCH_DRAIN_INTERVAL": 3600}, instance=tmp_path / "instance")
    assert set(_drain_threads()) == before  # a command (init, load, reindex) never starts it
    from portal import prepare_instance

    prepare_instance(app)
    app.test_client().get("/about")
    started = set(_drain_threads()) - before
    assert len(started) == 1  # a process that serves starts it once, at its first request
    app.test_client().get("/about")
    assert len(set(_drain_threads()) - before) == 1


def test_init_on_a_fresh_instance_reads_no_table_before_migrating(tmp_path):
    """The command itself, with a timer short enough to tick during the migrations."""
    env = {**os.environ, "KAIFANG_INSTANCE": str(tmp_path / "instance"), "KAIFANG_SEARCH_DRAIN_INTERVAL": "1"}
    env.pop("KAIFANG_DATABASE_URL", None)
    for _ in range(2):  # a fresh instance, then init again over it
        done = subprocess.run([sys.executable, "-m", "portal.cli", "init"], env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        assert "instance ready" in done.stdout
        assert "no such table" not in done.stderr and "Traceback" not in done.stderr, done.stderr
