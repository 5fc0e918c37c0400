"""The ε-budget mode's ledgers beyond one grant and one day (decision 0030u): a grant's lifetime ε
stops the days adding up, and the daily and lifetime ε are the account's on a dataset, so a
second approved grant of the same account adds nothing; another account's grant is its own.
Spends are set on given days (`day`), the ledgers' clock, rather than by waiting for midnight."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access.models import EpsilonAccountDay, EpsilonAccountTotal, Grant
from portal.access.service import grant_access, usable_datasets
from portal.accounts import service as accounts
from portal.analysis.epsilon import GrantEpsilon, LedgerEpsilon, Owner, ledger_epsilon
from portal.analysis.models import EpsilonLedger
from portal.auth import SYSTEM
from portal.db import database, session_scope
from tests.integration.analysis.conftest import at_once, clinic_app

CLINIC = "clinic-visits-synthetic"
DAY = date(2026, 12, 1)


def _analyst(app) -> str:
    email = f"ledger-{uuid.uuid4().hex[:10]}@example.org"
    with app.app_context(), session_scope(app) as db:
        accounts.create_user(db, SYSTEM, email=email, password="ledger-analyst-password", role="developer")
    return email


def _grant(app, email: str, **epsilon) -> int:
    with app.app_context(), session_scope(app) as db:
        return grant_access(db, SYSTEM, email=email, slug=CLINIC, days=30, purpose="ledgers", disclosure_mode="dp",
                            **epsilon)


def _budget(app, grant_id: int, day: date, *, daily: float, lifetime: float) -> LedgerEpsilon:
    """The budget a run under the grant starts with on `day` (as `submit_run` builds it)."""
    with app.app_context(), session_scope(app) as db:
        grant = db.get(Grant, grant_id)
        owner = Owner(grant.user_id, grant.dataset_id, grant.epsilon_before)
        return ledger_epsilon(db, {grant_id: GrantEpsilon(daily, lifetime, owner)}, day=day)


def _spends(app, grant_id: int, day: date, times: int, *, daily: float = 0.2, lifetime: float = 0.3) -> list[bool]:
    budget = _budget(app, grant_id, day, daily=daily, lifetime=lifetime)
    return [budget.spend(grant_id, 0.1) for _ in range(times)]


def _account_rows(app, email: str) -> tuple[list[tuple[date, float]], float]:
    with app.app_context(), session_scope(app) as db:
        user_id = accounts.user_by_email(db, email).id
        days = [tuple(r) for r in db.execute(select(EpsilonAccountDay.day, EpsilonAccountDay.epsilon)
                                             .where(EpsilonAccountDay.user_id == user_id)
                                             .order_by(EpsilonAccountDay.day))]
        total = db.scalar(select(EpsilonAccountTotal.epsilon).where(EpsilonAccountTotal.user_id == user_id))
    return days, total


def test_the_lifetime_epsilon_stops_the_days_adding_up(analysis_app):
    email = _analyst(analysis_app)
    grant_id = _grant(analysis_app, email)
    assert _spends(analysis_app, grant_id, DAY, 3) == [True, True, False], "0.2 a day"
    budget = _budget(analysis_app, grant_id, DAY + timedelta(days=1), daily=0.2, lifetime=0.3)
    assert budget.left(grant_id) == pytest.approx(0.1), "a new day, but only 0.1 of the lifetime's 0.3 is left"
    assert [budget.spend(grant_id, 0.1) for _ in range(2)] == [True, False]
    refusal = budget.refusal(grant_id, CLINIC)
    assert (refusal.rule, refusal.detail) == ("epsilon-budget", "lifetime")
    assert "0.3 of 0.3 over the grant's life" in refusal.reason and "does not renew" in refusal.reason
    assert _spends(analysis_app, grant_id, DAY + timedelta(days=40), 1) == [False], "and on every later day"
    assert _account_rows(analysis_app, email) == ([(DAY, 0.2), (DAY + timedelta(days=1), 0.1)], 0.3)


def test_two_grants_of_one_account_share_the_daily_and_lifetime_epsilon(analysis_app):
    email, other = _analyst(analysis_app), _analyst(analysis_app)
    first = _grant(analysis_app, email)
    assert _spends(analysis_app, first, DAY, 1) == [True]
    second = _grant(analysis_app, email)  # a second approved application on the same dataset
    budget = _budget(analysis_app, second, DAY, daily=0.2, lifetime=0.3)
    assert budget.spent_today(second) == pytest.approx(0.1), "the first grant's spend is the person's today"
    assert [budget.spend(second, 0.1) for _ in range(2)] == [True, False]
    refusal = budget.refusal(second, CLINIC)
    assert refusal.detail == "person" and "under your other grants" in refusal.reason
    assert _spends(analysis_app, first, DAY, 1) == [False], "nor does the first grant get its own day back"
    # another account's grant has budgets of its own
    assert _spends(analysis_app, _grant(analysis_app, other), DAY, 3) == [True, True, False]
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        own = dict(db.execute(select(EpsilonLedger.grant_id, EpsilonLedger.epsilon)
                              .where(EpsilonLedger.grant_id.in_([first, second]))).all())
        assert db.get(Grant, second).epsilon_before == pytest.approx(0.1), "what the account had spent by then"
    assert own == {first: pytest.approx(0.1), second: pytest.approx(0.1)}, "each grant's own record still"
    assert _account_rows(analysis_app, email) == ([(DAY, pytest.approx(0.2))], pytest.approx(0.2))


def test_a_new_grant_adds_its_lifetime_to_what_was_spent_before_it(analysis_app):
    """A renewal, or a second application, gives what the steward approved in it, no more: the
    lifetime ε of the second grant counts from the account's total when it was made, and every
    later spend of the account, under either grant, counts against both grants' lifetimes."""
    email = _analyst(analysis_app)
    first = _grant(analysis_app, email, lifetime_epsilon=0.2)
    assert _spends(analysis_app, first, DAY, 3, lifetime=0.2) == [True, True, False]
    second = _grant(analysis_app, email, lifetime_epsilon=0.2)
    later = DAY + timedelta(days=1)
    assert _spends(analysis_app, second, later, 3, lifetime=0.2) == [True, True, False]
    assert _spends(analysis_app, first, later + timedelta(days=1), 1, lifetime=0.2) == [False]
    assert _account_rows(analysis_app, email)[1] == pytest.approx(0.4)


def test_two_grants_of_one_account_spending_at_once_pass_the_last_epsilon_once(analysis_app):
    """Runs under both grants at the same moment: the account's daily row is charged in the
    same transaction as each grant's, so of eight spends against 0.5 a day exactly five pass."""
    email = _analyst(analysis_app)
    grants = [_grant(analysis_app, email), _grant(analysis_app, email)]
    assert _race(analysis_app, grants, daily=0.5, lifetime=5.0) == 5
    assert _account_rows(analysis_app, email) == ([(DAY, pytest.approx(0.5))], pytest.approx(0.5))


def _race(app, grant_ids: list[int], *, daily: float, lifetime: float, each: int = 4) -> int:
    """Two threads per grant, each spending 0.1 `each // 2` times, all at once."""
    budgets = {g: _budget(app, g, DAY, daily=daily, lifetime=lifetime) for g in grant_ids}
    return at_once([lambda g=g: budgets[g].spend(g, 0.1) for g in grant_ids for _ in range(2)], each // 2)


@pytest.mark.postgres
def test_the_race_on_postgresql(postgres_url, tmp_path):
    app = clinic_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    email = _analyst(app)
    grants = [_grant(app, email), _grant(app, email)]
    assert _race(app, grants, daily=0.5, lifetime=5.0, each=6) == 5
    assert _account_rows(app, email) == ([(DAY, pytest.approx(0.5))], pytest.approx(0.5))
    other = [_grant(app, email)]  # a third grant, made when the account had spent 0.5: 0.3 more in its life
    assert _race(app, other, daily=5.0, lifetime=0.3, each=8) == 3
    with app.app_context(), session_scope(app) as db:
        usable = usable_datasets(db, accounts.actor_for(db, accounts.user_by_email(db, email).id), [CLINIC])[0]
        assert usable.epsilon_before == pytest.approx(0.5)
    database(app).engine.dispose()


def test_the_grant_command_sets_the_lifetime_and_counts_it_from_what_was_spent(analysis_app, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    email = _analyst(analysis_app)
    assert _spends(analysis_app, _grant(analysis_app, email), DAY, 2) == [True, True]
    monkeypatch.setenv("KAIFANG_INSTANCE", analysis_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", analysis_app.config["SECRET_KEY"])
    result = CliRunner().invoke(main, ["grant", email, CLINIC, "--purpose", "renewal", "--mode", "dp",
                                       "--lifetime-epsilon", "3"])
    assert result.exit_code == 0 and "ε 3 over its life" in result.output, result.output
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        grant_id = int(result.output.split()[1].rstrip(":"))
        grant = db.get(Grant, grant_id)
        assert (grant.lifetime_epsilon, grant.epsilon_before) == (3.0, pytest.approx(0.2))
    refused = CliRunner().invoke(main, ["grant", email, CLINIC, "--purpose", "x", "--lifetime-epsilon", "0"])
    assert refused.exit_code != 0
