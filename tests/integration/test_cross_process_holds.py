"""`portal.db.held_across_processes` and `portal.db.claimed` across processes, on SQLite and on
PostgreSQL. The differencing memory and the public aggregates hold a name while they check and
write; on SQLite that hold used to be a lock per process only, so two gunicorn workers on the
embedded defaults could check and remember cells of one dataset at the same moment. A load
claims its dataset (`claimed`) so that a second load finds out before it ingests anything.

Each test starts another Python process that takes the name and waits for a line on its stdin.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from portal.db import (
    Held,
    _advisory_key,
    claimed,
    held_across_processes,
    held_for_transaction,
    make_engine,
)

CHILD = """
import sys
from portal.db import claimed, held_across_processes, make_engine
engine = make_engine(sys.argv[1])
with (held_across_processes if sys.argv[3] == "hold" else claimed)(engine, sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""
NAME = "released-cells:clinic-visits-synthetic"


def _other_process(url: str, name: str, how: str = "hold") -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, name, how], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def _let_go(child: subprocess.Popen) -> None:
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "released"
    assert child.wait(timeout=60) == 0
    child.stdin.close()
    child.stdout.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kaifang.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(url):
    made = make_engine(url)
    yield made
    made.dispose()


def test_a_hold_waits_for_another_process_holding_the_name(url, engine):
    child = _other_process(url, NAME)
    taken = threading.Event()

    def take() -> None:
        with held_across_processes(engine, NAME):
            taken.set()

    waiter = threading.Thread(target=take, daemon=True)
    try:
        waiter.start()
        assert not taken.wait(1.5), "held by another process, yet taken here"
        with held_across_processes(engine, NAME.replace("clinic", "other")):  # another name is free
            pass
        assert not taken.is_set()
    finally:
        _let_go(child)
    assert taken.wait(60)
    waiter.join(timeout=60)


def test_a_transaction_s_hold_waits_for_another_process_and_ends_with_its_commit(url, engine):
    """`held_for_transaction` (decision 0030r) holds the same names as `held_across_processes`;
    on PostgreSQL it is the transaction's own advisory lock, let go by the commit that ends it."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    child = _other_process(url, NAME)
    taken, leave = threading.Event(), threading.Event()

    def take() -> None:
        with Session(engine) as session, held_for_transaction(session, NAME):
            taken.set()
            leave.wait(60)

    waiter = threading.Thread(target=take, daemon=True)
    try:
        waiter.start()
        assert not taken.wait(1.5), "held by another process, yet taken here"
    finally:
        _let_go(child)
    assert taken.wait(60)
    try_lock = text("SELECT pg_try_advisory_lock(:k)")
    if engine.dialect.name == "postgresql":
        with engine.connect() as other:
            assert not other.execute(try_lock, {"k": _advisory_key(NAME)}).scalar()
    leave.set()
    waiter.join(timeout=60)
    if engine.dialect.name == "postgresql":
        with engine.connect() as other:
            assert other.execute(try_lock, {"k": _advisory_key(NAME)}).scalar()
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(NAME)})
    with held_across_processes(engine, NAME):  # and nothing of it is left in this process
        pass


def test_a_claim_is_refused_at_once_while_another_process_holds_it(url, engine):
    child = _other_process(url, "load:districts", how="claim")
    try:
        with pytest.raises(Held), claimed(engine, "load:districts"):
            pass
        with claimed(engine, "load:other"):
            pass
    finally:
        _let_go(child)
    with claimed(engine, "load:districts"):
        with pytest.raises(Held), claimed(engine, "load:districts"):  # another thread of this process
            pass


def test_a_claim_dies_with_its_process(url, engine):
    """A loader killed mid-load leaves nothing to expire: the system drops its file lock, the
    server its advisory lock with its connection."""
    child = _other_process(url, "load:districts", how="claim")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    child.stdin.close()
    child.stdout.close()
    for _ in range(600):  # PostgreSQL notices the closed connection within moments
        try:
            with claimed(engine, "load:districts"):
                break
        except Held:
            threading.Event().wait(0.1)
    else:
        pytest.fail("the dead process's claim was never released")


def test_the_differencing_memory_waits_for_another_process_on_sqlite(tmp_path, statistical_public):
    """The embedded defaults with two processes (two gunicorn workers, or `kaifang sandbox-run`
    beside a server): while another process holds the memory of a dataset, a public question
    waits before it checks its cells, then writes them through (the statistical path, which
    reads the memory: `statistical_public`)."""
    from pathlib import Path

    import sqlalchemy as sa

    from portal.analysis import public
    from portal.auth import ANONYMOUS, SYSTEM
    from portal.catalog import publishing
    from portal.db import database, session_scope
    from tests.conftest import DATASETS, make_app
    from tests.integration.analysis.conftest import write_fixed_key

    clinic = "clinic-visits-synthetic"
    app = make_app(tmp_path / "instance", ANALYSIS_ANSWER_QUANTUM_MS=1)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / clinic, data_dir=Path(app.config["DATA_DIR"]))
    outcomes: list = []

    def ask() -> None:
        with app.app_context(), session_scope(app) as db:
            settings, daily = public.settings_and_budget()
            outcomes.append(public.ask(db, ANONYMOUS, clinic, public.Question.parse("district"), settings, daily))

    child = _other_process(app.config["DATABASE_URL"], f"released-cells:{clinic}")
    asker = threading.Thread(target=ask, daemon=True)
    try:
        asker.start()
        asker.join(timeout=3)
        assert asker.is_alive() and outcomes == [], "cells were checked while another process held the memory"
    finally:
        _let_go(child)
    asker.join(timeout=120)
    assert len(outcomes) == 1 and isinstance(outcomes[0], public.Answer), outcomes
    with app.app_context(), session_scope(app) as db:
        stored = db.scalar(sa.text("SELECT count(*) FROM released_cells WHERE signature = :s"), {"s": clinic})
    assert stored == 16
    database(app).engine.dispose()
