"""The statistical mode's cell ledgers beyond one grant and one day (decision 0030w): a grant's
lifetime cells stop the days adding up, and the daily and lifetime cells are the account's on a
dataset, so a second approved grant of the same account adds nothing; another account's grant is
its own. Charges are set on given days (`day`), the ledgers' clock, rather than by waiting for
midnight — as the ε ledgers' tests do (test_epsilon_ledgers.py)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access.models import CellAccountDay, CellAccountTotal, Grant
from portal.access.service import grant_access, usable_datasets
from portal.accounts import service as accounts
from portal.analysis import service as analysis
from portal.analysis.budget import LedgerBudget, Owner
from portal.analysis.models import ReleaseLedger
from portal.auth import SYSTEM
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.db import database, session_scope
from tests.integration.analysis.conftest import at_once, clinic_app

CLINIC = "clinic-visits-synthetic"
DAY = date(2026, 12, 1)


def _analyst(app) -> str:
    email = f"cells-{uuid.uuid4().hex[:10]}@example.org"
    with app.app_context(), session_scope(app) as db:
        accounts.create_user(db, SYSTEM, email=email, password="cells-analyst-password", role="developer")
    return email


def _grant(app, email: str, *, daily: int = 100, lifetime: int | None = 250) -> int:
    with app.app_context(), session_scope(app) as db:
        return grant_access(db, SYSTEM, email=email, slug=CLINIC, days=30, purpose="ledgers", disclosure_mode="sdc",
                            daily_cell_budget=daily, lifetime_cells=lifetime)


def _budget(app, grant_id: int, day: date) -> LedgerBudget:
    """The budget a run under the grant spends on `day` (as `submit_run` builds it, on that day)."""
    with app.app_context(), session_scope(app) as db:
        grant = db.get(Grant, grant_id)
        lifetime = grant.lifetime_cells
        return LedgerBudget(db.get_bind(), {grant_id: grant.daily_cell_budget}, day=day, lifetime={grant_id: lifetime},
                            owners={grant_id: Owner(grant.user_id, grant.dataset_id, grant.cells_before)})


def _takes(app, grant_id: int, day: date, times: int, cells: int = 50) -> list[bool]:
    budget = _budget(app, grant_id, day)
    return [budget.take([grant_id], cells) for _ in range(times)]


def _account_rows(app, email: str) -> tuple[list[tuple[date, int]], int]:
    with app.app_context(), session_scope(app) as db:
        user_id = accounts.user_by_email(db, email).id
        days = [tuple(r) for r in db.execute(select(CellAccountDay.day, CellAccountDay.cells)
                                             .where(CellAccountDay.user_id == user_id).order_by(CellAccountDay.day))]
        total = db.scalar(select(CellAccountTotal.cells).where(CellAccountTotal.user_id == user_id))
    return days, total


def test_the_lifetime_cells_stop_the_days_adding_up(analysis_app):
    email = _analyst(analysis_app)
    grant_id = _grant(analysis_app, email)  # 100 a day, 250 over its life
    assert _takes(analysis_app, grant_id, DAY, 3) == [True, True, False], "100 a day"
    assert _takes(analysis_app, grant_id, DAY + timedelta(days=1), 3) == [True, True, False]
    budget = _budget(analysis_app, grant_id, DAY + timedelta(days=2))
    assert budget.left(grant_id) == 50, "a new day, but only 50 of the lifetime's 250 are left"
    assert budget.left_by_ledger(grant_id) == {"lifetime": 50, "grant": 100, "person": 100}
    assert [budget.take([grant_id], 50), budget.take([grant_id], 50)] == [True, False]
    refusal = budget.refusal([grant_id])
    assert (refusal.rule, refusal.detail) == ("budget", "lifetime") and "over its life" in refusal.reason
    later = _budget(analysis_app, grant_id, DAY + timedelta(days=40))
    assert later.exhausted([grant_id]).detail == "lifetime", "and every later day refuses before charging"
    assert not later.take([grant_id], 1)
    assert _account_rows(analysis_app, email) == (
        [(DAY, 100), (DAY + timedelta(days=1), 100), (DAY + timedelta(days=2), 50)], 250)


def test_two_grants_of_one_account_share_the_daily_and_lifetime_cells(analysis_app):
    email, other = _analyst(analysis_app), _analyst(analysis_app)
    first = _grant(analysis_app, email)
    assert _takes(analysis_app, first, DAY, 1, cells=60) == [True]
    second = _grant(analysis_app, email)  # a second approved application on the same dataset
    budget = _budget(analysis_app, second, DAY)
    assert budget.left(second) == 40, "the first grant's cells are the person's today"
    assert not budget.take([second], 60)
    refusal = budget.refusal([second])
    assert refusal.detail == "person" and "under your other grants" in refusal.reason
    assert budget.take([second], 40)
    assert budget.exhausted([second]).detail == "person"
    assert _takes(analysis_app, first, DAY, 1, cells=1) == [False], "nor does the first grant get its own day back"
    # another account's grant has budgets of its own
    assert _takes(analysis_app, _grant(analysis_app, other), DAY, 3) == [True, True, False]
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        own = dict(db.execute(select(ReleaseLedger.grant_id, ReleaseLedger.cells)
                              .where(ReleaseLedger.grant_id.in_([first, second]))).all())
        assert db.get(Grant, second).cells_before == 60, "what the account had released by then"
    assert own == {first: 60, second: 40}, "each grant's own record still"
    assert _account_rows(analysis_app, email) == ([(DAY, 100)], 100)


def test_a_new_grant_adds_its_lifetime_to_what_was_released_before_it(analysis_app):
    """A renewal gives what the steward approved in it, no more: its lifetime cells count from
    the account's total when it was made, and every later charge, under either grant, counts
    against both grants' lifetimes."""
    email = _analyst(analysis_app)
    first = _grant(analysis_app, email, lifetime=100)
    assert _takes(analysis_app, first, DAY, 3) == [True, True, False]
    second = _grant(analysis_app, email, lifetime=100)
    later = DAY + timedelta(days=1)
    assert _takes(analysis_app, second, later, 3) == [True, True, False]
    assert _takes(analysis_app, first, later + timedelta(days=1), 1) == [False]
    assert _account_rows(analysis_app, email)[1] == 200


def test_a_run_reads_the_lifetime_from_the_grant_the_dataset_or_the_portal(analysis_app):
    """`submit_run`'s budget: the grant's own lifetime cells; none, `SDC_LIFETIME_DAYS` days of
    its daily cells (the clinic declares no `lifetime_cells`)."""
    email = _analyst(analysis_app)
    _grant(analysis_app, email, daily=70, lifetime=None)
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        actor = accounts.actor_for(db, accounts.user_by_email(db, email).id)
        usable = usable_datasets(db, actor, [CLINIC])
        assert analysis._budget(db, usable).lifetime == {usable[0].grant_id: 700}
        budget = analysis._budget(db, usable, EpsilonDefaults(cell_lifetime_days=2.5))
        assert budget.lifetime == {usable[0].grant_id: 175}
        assert budget.owners[usable[0].grant_id] == Owner(actor.user_id, usable[0].dataset_id, 0)


def test_two_grants_of_one_account_charging_at_once_pass_the_last_cells_once(analysis_app):
    """Runs under both grants at the same moment: the account's daily row is charged in the
    same transaction as each grant's, so of eight charges of 10 against 50 a day exactly five pass."""
    email = _analyst(analysis_app)
    grants = [_grant(analysis_app, email, daily=50, lifetime=500), _grant(analysis_app, email, daily=50, lifetime=500)]
    assert _race(analysis_app, grants) == 5
    assert _account_rows(analysis_app, email) == ([(DAY, 50)], 50)


def _race(app, grant_ids: list[int], *, each: int = 4) -> int:
    """Two threads per grant, each taking 10 cells `each // 2` times, all at once."""
    budgets = {g: _budget(app, g, DAY) for g in grant_ids}
    return at_once([lambda g=g: budgets[g].take([g], 10) for g in grant_ids for _ in range(2)], each // 2)


@pytest.mark.postgres
def test_the_race_on_postgresql(postgres_url, tmp_path):
    app = clinic_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    email = _analyst(app)
    grants = [_grant(app, email, daily=50, lifetime=500), _grant(app, email, daily=50, lifetime=500)]
    assert _race(app, grants, each=6) == 5
    assert _account_rows(app, email) == ([(DAY, 50)], 50)
    other = [_grant(app, email, daily=500, lifetime=30)]  # made when the account had released 50: 30 more
    assert _race(app, other, each=8) == 3
    with app.app_context(), session_scope(app) as db:
        usable = usable_datasets(db, accounts.actor_for(db, accounts.user_by_email(db, email).id), [CLINIC])[0]
        assert (usable.cells_before, usable.lifetime_cells) == (50, 30)
    database(app).engine.dispose()


def test_the_grant_command_sets_the_lifetime_cells_and_counts_them_from_what_was_released(analysis_app, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    email = _analyst(analysis_app)
    assert _takes(analysis_app, _grant(analysis_app, email), DAY, 2) == [True, True]
    monkeypatch.setenv("KAIFANG_INSTANCE", analysis_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", analysis_app.config["SECRET_KEY"])
    result = CliRunner().invoke(main, ["grant", email, CLINIC, "--purpose", "renewal", "--mode", "sdc",
                                       "--lifetime-cells", "3000"])
    assert result.exit_code == 0 and "3000 cells over its life" in result.output, result.output
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        grant = db.get(Grant, int(result.output.split()[1].rstrip(":")))
        assert (grant.lifetime_cells, grant.cells_before) == (3000, 100)
    refused = CliRunner().invoke(main, ["grant", email, CLINIC, "--purpose", "x", "--lifetime-cells", "0"])
    assert refused.exit_code != 0
