"""One clock for every daily budget: the UTC calendar day (portal.db.budget_day). The cell ledger,
the ε ledger, the notebook's budget panel, the public aggregates and the sessions' CPU seconds all
renew together at 00:00 UTC, whatever the server's local time zone. The clock is moved across
midnight by replacing `portal.db.utcnow`, which every budget reads through `budget_day`."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

import portal.db
from portal.access.service import grant_access, usable_datasets
from portal.accounts import service as accounts
from portal.analysis import public
from portal.analysis import service as analysis
from portal.analysis.budget import LedgerBudget
from portal.analysis.epsilon import LedgerEpsilon, spent_today
from portal.analysis.models import AnalysisRun, ReleaseLedger
from portal.auth import SYSTEM
from portal.db import budget_day, budget_day_start, seconds_to_next_budget_day, session_scope
from portal.notebook import datasets as notebook_datasets
from portal.sessions import service as sessions
from portal.sessions.models import AnalysisSession, SessionRun
from tests import factories

CLINIC = "clinic-visits-synthetic"


@pytest.fixture
def far_east(monkeypatch):
    """A server whose local day is not the UTC day for most of the day (UTC+14)."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


class Clock:
    def __init__(self, monkeypatch):
        self._monkeypatch = monkeypatch

    def at(self, when: datetime) -> None:
        self._monkeypatch.setattr(portal.db, "utcnow", lambda: when)


def test_the_budget_day_is_the_utc_day_whatever_the_local_zone(far_east):
    late = datetime(2026, 12, 1, 23, 59, 59)
    assert budget_day(late) == date(2026, 12, 1)
    assert budget_day_start(late) == datetime(2026, 12, 1)
    assert seconds_to_next_budget_day(late) == 2
    assert seconds_to_next_budget_day(datetime(2026, 12, 2, 0, 0, 0)) == 24 * 3600 + 1
    # what `date.today()` counted in before: the local (UTC+14) day, the next one from 10:00 UTC
    ten_utc = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(ten_utc.timestamp()).date() == date(2026, 12, 2)
    assert budget_day(ten_utc.replace(tzinfo=None)) == date(2026, 12, 1)


def test_every_ledger_renews_at_midnight_utc(analysis_app, far_east, monkeypatch):
    clock = Clock(monkeypatch)
    today = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003 - naive UTC, as the columns store it
    before = datetime.combine(today.date(), datetime.min.time()) + timedelta(hours=23, minutes=59, seconds=50)
    after = before + timedelta(seconds=20)
    email = factories.user(analysis_app, "developer")
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        grant_id = grant_access(db, SYSTEM, email=email, slug=CLINIC, days=5, purpose="midnight",
                                daily_cell_budget=300, disclosure_mode="sdc")
        actor = accounts.actor_for(db, accounts.user_by_email(db, email).id)
        usable = usable_datasets(db, actor, [CLINIC])

        engine = db.get_bind()
        clock.at(before)
        assert LedgerBudget(engine, {grant_id: 300}).take([grant_id], 120)
        assert LedgerEpsilon(daily={grant_id: 1.0}, spent_before={}, engine=engine).spend(grant_id, 0.4)
        db.commit()
        assert db.scalar(select(ReleaseLedger.day).where(ReleaseLedger.grant_id == grant_id)) == before.date()
        assert analysis._budget(db, usable).left(grant_id) == 180
        assert notebook_datasets.budgets(db, actor, [CLINIC])["grants"][0]["cells_left"] == 180
        assert spent_today(db, [grant_id]) == {grant_id: 0.4}

        clock.at(after)  # 00:00:10 UTC the next day: every budget is whole again, at the same moment
        assert analysis._budget(db, usable).left(grant_id) == 300
        assert notebook_datasets.budgets(db, actor, [CLINIC])["grants"][0]["cells_left"] == 300
        assert spent_today(db, [grant_id]) == {grant_id: 0.0}
        assert LedgerBudget(engine, {grant_id: 300}).take([grant_id], 7)
        db.commit()
        days = sorted(db.scalars(select(ReleaseLedger.day).where(ReleaseLedger.grant_id == grant_id)))
        assert days == [before.date(), after.date()]


def test_public_cells_and_session_cpu_renew_at_midnight_utc(analysis_app, far_east, monkeypatch):
    clock = Clock(monkeypatch)
    now = datetime.utcnow().replace(microsecond=0)  # noqa: DTZ003
    email = factories.user(analysis_app, "developer")
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        user_id = accounts.user_by_email(db, email).id
        slug = f"midnight-{user_id}"  # a dataset name of its own: the public tally is per dataset
        db.add(AnalysisRun(run_id=f"midnight-{user_id}", user_id=None, user_email=public.PUBLIC_EMAIL,
                           code_sha256="0" * 64, code_bytes=0, started_at=now, cells_charged=25,
                           grants=[{"dataset": slug, "version": 1, "level": "public"}]))
        session = AnalysisSession(id=f"mid{user_id}", user_id=user_id, datasets=[], status="open", created_at=now,
                                  last_used_at=now, expires_at=now + timedelta(minutes=30), next_index=1)
        db.add(session)
        db.flush()
        db.add(SessionRun(id=f"midrun{user_id}", session_id=session.id, user_id=user_id, index=0, code="x = 1",
                          status="done", submitted_at=now, started_at=now, finished_at=now, cpu_seconds=2.5))
        db.commit()
        limits = sessions.SessionLimits(cpu_seconds_daily=10)

        clock.at(datetime.combine(now.date(), datetime.min.time()) + timedelta(hours=23, minutes=59, seconds=59))
        assert public._today(db, slug)[0] == 25
        assert sessions.budget_of(db, user_id, limits).cpu_seconds_left == 7.5

        clock.at(datetime.combine(now.date() + timedelta(days=1), datetime.min.time()) + timedelta(seconds=1))
        assert public._today(db, slug)[0] == 0
        assert sessions.budget_of(db, user_id, limits).cpu_seconds_left == 10
