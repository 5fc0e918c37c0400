"""The public aggregates' budget on the real PostgreSQL (required when CI=true): answers for one
dataset are serialised across processes by a PostgreSQL advisory lock, so two callers racing for
the last cells cannot both spend them. Each test gives every thread a lock of its own in place of
the per-process lock, so that only the advisory lock stands between them — as between two
gunicorn workers."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal import db as portal_db
from portal.analysis import public
from portal.auth import ANONYMOUS, SYSTEM
from portal.catalog import publishing
from portal.db import database, session_scope
from portal.errors import PortalError
from tests.conftest import DATASETS, make_app
from tests.integration.analysis.conftest import write_fixed_key

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("statistical_public")]
CLINIC = "clinic-visits-synthetic"
BY_DISTRICT = public.Question.parse("district")
ONE_QUESTION = 16 * 2  # 16 declared districts × (the key + the count)
BY_AGE = public.Question.parse("age_band")  # 8 bands × 2 = 16 cells: fits alone, not beside BY_DISTRICT


class _OneLockPerCaller(dict):
    """`portal.db`'s per-process locks as two processes see them: nothing shared in memory."""

    def setdefault(self, key, default=None):
        return threading.Lock()


@pytest.fixture
def pg_app(postgres_url, tmp_path, monkeypatch):
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url, ANALYSIS_ANSWER_QUANTUM_MS=1,
                   PUBLIC_AGGREGATE_DAILY_CELLS=ONE_QUESTION + 8)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / CLINIC, data_dir=Path(app.config["DATA_DIR"]))
    monkeypatch.setattr(portal_db, "_held_locks", _OneLockPerCaller())
    yield app
    database(app).engine.dispose()


def _ask(app, outcomes: list, start: threading.Barrier | None = None, question=BY_DISTRICT) -> None:
    with app.app_context(), session_scope(app) as db:
        settings, daily = public.settings_and_budget()
        if start is not None:
            start.wait(timeout=30)
        try:
            outcomes.append(public.ask(db, ANONYMOUS, CLINIC, question, settings, daily))
        except PortalError as error:
            outcomes.append(error)


def _ask_while_another_process_holds(pg_app, postgres_url: str, name: str, what: str) -> list:
    """Ask one question while another connection holds the advisory lock of `name`: the question
    must wait (checked after 3 s) and go ahead once it is let go. Returns its outcomes."""
    key = zlib.crc32(name.encode()) & 0x7FFFFFFF
    holder = sa.create_engine(postgres_url)
    outcomes: list = []
    with holder.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        asker = threading.Thread(target=_ask, args=(pg_app, outcomes))
        asker.start()
        asker.join(timeout=3)
        assert asker.is_alive() and outcomes == [], f"{what} while another process held the lock"
        connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        connection.commit()
    asker.join(timeout=120)
    holder.dispose()
    return outcomes


def test_a_question_waits_for_the_advisory_lock(pg_app, postgres_url):
    outcomes = _ask_while_another_process_holds(pg_app, postgres_url, f"public-aggregate:{CLINIC}",
                                                "the question went ahead")
    assert len(outcomes) == 1 and isinstance(outcomes[0], public.Answer), outcomes
    assert outcomes[0].cells_charged == ONE_QUESTION


def test_two_concurrent_spenders_do_not_overspend(pg_app):
    """Two different questions (a repeat of one would be answered free), each within the budget
    left, together past it."""
    outcomes: list = []
    start = threading.Barrier(2)
    askers = [threading.Thread(target=_ask, args=(pg_app, outcomes, start, question))
              for question in (BY_DISTRICT, BY_AGE)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=180)
    answers = [o for o in outcomes if isinstance(o, public.Answer)]
    refused = [o for o in outcomes if isinstance(o, PortalError)]
    assert len(answers) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "public-budget-spent" and refused[0].status == 429
    daily = pg_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"]
    with pg_app.app_context(), session_scope(pg_app) as db:
        spent, _ = public._today(db, CLINIC)
    assert 16 <= spent <= daily, f"{spent} cells charged of a budget of {daily}"


def test_remembering_cells_waits_for_the_memory_advisory_lock(pg_app, postgres_url, monkeypatch):
    """Each query's cells are checked against the differencing memory and written to it under a
    hold on the dataset (decision 0023e): across processes, a PostgreSQL advisory lock. While
    another process holds it, a question (analyst's or public) waits before it checks its cells."""

    monkeypatch.setattr(portal_db, "_held_locks", _OneLockPerCaller())
    outcomes = _ask_while_another_process_holds(pg_app, postgres_url, f"released-cells:{CLINIC}",
                                                "cells were checked")
    assert len(outcomes) == 1 and isinstance(outcomes[0], public.Answer), outcomes
    with pg_app.app_context(), session_scope(pg_app) as db:
        stored = db.scalar(sa.text("SELECT count(*) FROM released_cells WHERE signature = :s"), {"s": CLINIC})
    assert stored == 16  # written through by the query itself: one cell per district with records
