"""The public's ε of a dataset in the ε-budget mode (decision 0030z) on the real PostgreSQL
(required when CI=true), raced as two gunicorn workers race: every thread has a lock of its own in
place of the per-process lock, so only the advisory lock of the dataset stands between them.
Two new questions that together pass the day's ε: one is answered, one refused. One new question
asked twice at once: paid for once, and both callers get the one kept answer (fresh noise for
each could be averaged away)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import db as portal_db
from portal.analysis import public
from portal.analysis.models import PublicAnswer, PublicEpsilon
from portal.auth import ANONYMOUS, SYSTEM
from portal.catalog import publishing
from portal.db import database, session_scope
from portal.errors import PortalError
from tests.conftest import DATASETS, make_app
from tests.integration.analysis.conftest import write_fixed_key
from tests.integration.analysis.test_public_budget_postgres import _OneLockPerCaller

pytestmark = pytest.mark.postgres
CLINIC = "clinic-visits-synthetic"
PER_QUERY = 0.1  # the portal's default ε per query: the clinic visits declare none


@pytest.fixture
def pg_app(postgres_url, tmp_path, monkeypatch):
    """The clinic visits in their declared ε mode, a public ε of 0.15 a day: one question, not two."""
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url, ANALYSIS_ANSWER_QUANTUM_MS=1,
                   PUBLIC_AGGREGATE_DAILY_EPSILON=0.15, PUBLIC_AGGREGATE_LIFETIME_EPSILON=5)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / CLINIC, data_dir=Path(app.config["DATA_DIR"]))
    monkeypatch.setattr(portal_db, "_held_locks", _OneLockPerCaller())
    yield app
    database(app).engine.dispose()


def _race(app, questions: list[str]) -> list:
    outcomes: list = []
    start = threading.Barrier(len(questions))

    def ask(fields: str) -> None:
        with app.app_context(), session_scope(app) as db:
            settings, daily = public.settings_and_budget()
            start.wait(timeout=30)
            try:
                outcomes.append(public.ask(db, ANONYMOUS, CLINIC, public.Question.parse(fields), settings, daily))
            except PortalError as error:
                outcomes.append(error)

    askers = [threading.Thread(target=ask, args=(fields,)) for fields in questions]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=180)
    assert len(outcomes) == len(questions), "a caller did not finish"
    return outcomes


def _spent(app) -> tuple[float, int]:
    with app.app_context(), session_scope(app) as db:
        rows = list(db.scalars(select(PublicEpsilon)))
        kept = len(list(db.scalars(select(PublicAnswer))))
    return sum(row.epsilon for row in rows), kept


def test_two_new_questions_at_once_do_not_overspend_the_day(pg_app):
    outcomes = _race(pg_app, ["district", "age_band"])
    answers = [o for o in outcomes if isinstance(o, public.Answer)]
    refused = [o for o in outcomes if isinstance(o, PortalError)]
    assert len(answers) == 1 and len(refused) == 1, outcomes
    assert refused[0].code == "public-budget-spent" and refused[0].status == 429
    assert _spent(pg_app) == (pytest.approx(PER_QUERY), 1)


def test_one_new_question_twice_at_once_is_paid_once_and_answered_alike(pg_app):
    outcomes = _race(pg_app, ["district,sex", "sex,district"])
    assert all(isinstance(o, public.Answer) for o in outcomes), outcomes
    first, second = outcomes
    by_cell = [{tuple(row[:2]) if answer.by == ("district", "sex") else tuple(row[1::-1]): row[2:]
                for row in answer.rows} for answer in (first, second)]
    assert by_cell[0] == by_cell[1], "two draws for one question"
    assert _spent(pg_app) == (pytest.approx(PER_QUERY), 1)
