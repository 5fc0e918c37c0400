"""An instance with the bundled conditional datasets (and flights), users and a runner of code."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.accounts import service as accounts
from portal.analysis.keys import key_path
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from tests.conftest import DATASETS, make_app
from tests.instances import copy_loaded

SLUGS = ("clinic-visits-synthetic", "household-income-survey-synthetic", "nyc-flights-2013", "china-smoking-lung-cancer")
ANALYST = "analyst@example.org"
# A fixed disclosure key (what `kaifang init` writes, but not random): the attack tests make
# statistical claims about released values (e.g. a dominant cost stays inside the documented
# noise band), and each run of the suite should judge the same noise draws. Random keys, their
# file mode and rotation are tested in tests/security/test_disclosure_keys.py. A statistical
# test that holds only on the fixed key's draws proves little: KAIFANG_TEST_DISCLOSURE_KEY (64 hex
# digits) runs the suite on other draws (README, Test it).
FIXED_KEY = os.environ.get("KAIFANG_TEST_DISCLOSURE_KEY",
                           "6b6169666167672d746573742d6b65792d6e6f742d7365637265742d30303031")


def write_fixed_key(instance: Path) -> None:
    path = key_path(instance)
    path.write_text(FIXED_KEY + "\n", encoding="ascii")
    path.chmod(0o600)


def clinic_app(instance: Path, **config):
    """An instance with the clinic visits only and the fixed key (for a test on another database,
    e.g. `DATABASE_URL=postgres_url`)."""
    app = make_app(instance, **config)
    write_fixed_key(instance)
    with app.app_context(), session_scope(app) as db:
        publishing.load_package(db, SYSTEM, DATASETS / SLUGS[0], data_dir=Path(app.config["DATA_DIR"]))
    return app


def at_once(spenders: list[Callable[[], bool]], times: int) -> int:
    """How many spends passed when each spender, on a thread of its own, spent `times` times, all
    of them released together: a race on the budget ledgers (test_epsilon_ledgers, test_cell_ledgers)."""
    start = threading.Barrier(len(spenders))
    passed: list[bool] = []

    def spend(spender: Callable[[], bool]) -> None:
        start.wait(timeout=30)
        for _ in range(times):
            passed.append(spender())

    threads = [threading.Thread(target=spend, args=(s,)) for s in spenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return sum(passed)


@pytest.fixture(scope="session")
def analysis_app(tmp_path_factory):
    """The process's app; its instance a copy of the one loaded once per run (tests/instances.py)."""
    instance = tmp_path_factory.mktemp("analysis") / "instance"
    copy_loaded(instance, "analysis", _loaded)
    return make_app(instance)


def _loaded(instance: Path):
    app = make_app(instance)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        for slug in SLUGS:
            publishing.load_package(session, SYSTEM, DATASETS / slug, data_dir=Path(app.config["DATA_DIR"]))
        accounts.create_user(session, SYSTEM, email=ANALYST, password="analyst-password", role="developer")
    return app


@pytest.fixture
def sandbox_run(analysis_app, tmp_path, monkeypatch):
    """Run code through `kaifang sandbox-run ... --json`, exactly as an operator would."""
    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", analysis_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", analysis_app.config["SECRET_KEY"])
    # A short answer quantum keeps runs of hundreds of queries inside the 10 s wall clock; the
    # timing attack test sets its own.
    monkeypatch.setenv("KAIFANG_ANALYSIS_ANSWER_QUANTUM_MS", "1")
    # The attacks' runs of hundreds of queries are judged on their answers, not on their speed:
    # a loaded test machine must not turn them into timeouts. The wall limit itself is tested
    # on the pool (tests/security/test_sandbox_resources.py).
    monkeypatch.setenv("KAIFANG_SANDBOX_WALL_SECONDS", "120")

    def run(code: str, *grants: str, user: str = ANALYST, mode: str = "sdc") -> dict:
        """`mode`: of the operator's grant, when the user holds none yet. The bundled conditional
        datasets declare the ε-budget mode (decision 0030q); most attack tests are of the
        statistical one, so it is the default here."""
        source = tmp_path / "analysis.py"
        source.write_text(textwrap.dedent(code), encoding="utf-8")
        args = ["sandbox-run", str(source), "--user", user, "--json", "--mode", mode]
        for grant in grants:
            args += ["--grant", grant]
        result = CliRunner().invoke(main, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return json.loads(result.output)

    return run
