"""One person, several accounts, one budget (decision 0031e): two accounts of one verified
applicant, each approved on the clinic visits, charge the first account's ledgers, so the second
account's runs see what the first spent and are refused when the person's budget is spent, in
the ε mode and the statistical one, a day and over the grants' life; an account of another
person keeps budgets of its own. The budgets are built as a run builds them: from what the
access check finds (`usable_datasets`), through `grant_epsilon` / `_budget`."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access import reviews
from portal.access.models import Grant
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.access.service import grant_access, usable_datasets
from portal.accounts import service as accounts
from portal.analysis import service as analysis
from portal.analysis.epsilon import ledger_epsilon
from portal.auth import SYSTEM
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.db import session_scope
from portal.sessions.service import cell_budgets
from tests import factories

CLINIC = "clinic-visits-synthetic"
DAY = date(2026, 12, 1)
PEOPLE = itertools.count(int(uuid.uuid4().int % 10_000) * 100 + 400_000)  # apart from other modules' people


def _account(app, person: int, **scope) -> tuple[str, int]:
    """A new account that applies as `person` and is approved on the clinic visits."""
    email = f"person-{uuid.uuid4().hex[:10]}@example.org"
    with app.app_context(), session_scope(app) as db:
        accounts.create_user(db, SYSTEM, email=email, password="one-person-password", role="developer")
        actor = accounts.actor_for(db, accounts.user_by_email(db, email).id)
        made = factories.apply_for(db, actor, ApplicationDraft((CLINIC,), "one budget", "uni", 30), person=person)
        reviews.approve_application(db, SYSTEM, made.application.id, ApprovalScope(
            (DatasetScope(CLINIC),), date.today() + timedelta(days=30), **scope))
        grant_id = db.scalar(select(Grant.id).where(Grant.application_id == made.application.id))
    return email, grant_id


def _usable(app, email: str):
    with app.app_context(), session_scope(app) as db:
        actor = accounts.actor_for(db, accounts.user_by_email(db, email).id)
        return usable_datasets(db, actor, [CLINIC])[0]


def _epsilon(app, email: str, day: date):
    """The ε budget a run of `email` starts with on `day`, and its grant."""
    u = _usable(app, email)
    with app.app_context(), session_scope(app) as db:
        grants = {u.grant_id: analysis.grant_epsilon(u, u.privacy(EpsilonDefaults()))}
        return ledger_epsilon(db, grants, day=day), u.grant_id


def _spends(app, email: str, day: date, times: int) -> list[bool]:
    budget, grant_id = _epsilon(app, email, day)
    return [budget.spend(grant_id, 0.1) for _ in range(times)]


EPSILON = {"disclosure_mode": "dp", "daily_epsilon": 0.2, "lifetime_epsilon": 0.3}


def test_two_accounts_of_one_person_share_the_epsilon_a_day_and_over_their_life(analysis_app):
    person = next(PEOPLE)
    first, _ = _account(analysis_app, person, **EPSILON)
    second, _ = _account(analysis_app, person, **EPSILON)
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        first_id = accounts.user_by_email(db, first).id
    assert _usable(analysis_app, second).user_id == first_id, "the second account's grant charges the first's ledgers"
    assert _spends(analysis_app, first, DAY, 1) == [True]
    budget, grant_id = _epsilon(analysis_app, second, DAY)
    assert budget.spent_today(grant_id) == pytest.approx(0.1), "the second account sees what the first spent"
    assert [budget.spend(grant_id, 0.1), budget.spend(grant_id, 0.1)] == [True, False]
    refusal = budget.refusal(grant_id, CLINIC)
    assert (refusal.rule, refusal.detail) == ("epsilon-budget", "person")
    assert _spends(analysis_app, first, DAY, 1) == [False], "nor has the first account a day of its own left"
    # the next day: 0.1 is left of the person's lifetime 0.3, under either account
    assert _spends(analysis_app, second, DAY + timedelta(days=1), 2) == [True, False]
    budget, grant_id = _epsilon(analysis_app, first, DAY + timedelta(days=2))
    assert not budget.spend(grant_id, 0.1) and budget.refusal(grant_id, CLINIC).detail == "lifetime"
    # another person's account has budgets of its own
    stranger, _ = _account(analysis_app, next(PEOPLE), **EPSILON)
    assert _spends(analysis_app, stranger, DAY, 3) == [True, True, False]


def test_two_accounts_of_one_person_share_the_cells_a_day_and_over_their_life(analysis_app):
    person, scope = next(PEOPLE), {"disclosure_mode": "sdc", "daily_cell_budget": 100, "lifetime_cells": 150}
    first, first_grant = _account(analysis_app, person, **scope)
    second, second_grant = _account(analysis_app, person, **scope)
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        assert analysis._budget(db, [_usable(analysis_app, first)]).take([first_grant], 60)
        budget = analysis._budget(db, [_usable(analysis_app, second)])
        assert budget.left_by_ledger(second_grant) == {"lifetime": 90, "grant": 100, "person": 40}
        assert budget.take([second_grant], 40) and not budget.take([second_grant], 1)
        assert budget.refusal([second_grant]).detail == "person"
        assert budget.exhausted([second_grant]).detail == "person", "every later plan of the day is refused"
        reported = cell_budgets(db, [_usable(analysis_app, first)])[0]
        assert (reported.cells_left, reported.cells_lifetime_left) == (0, 50), "the first account sees both spends"
        stranger, stranger_grant = _account(analysis_app, next(PEOPLE), **scope)
        assert analysis._budget(db, [_usable(analysis_app, stranger)]).take([stranger_grant], 100)


def test_an_operator_s_grant_to_a_verified_account_charges_the_person_s_budget(analysis_app):
    """`kaifang grant` (no application): the account's identities are those of its approved
    applications, so a direct grant to the second account charges the first's ledgers too."""
    person = next(PEOPLE)
    first, _ = _account(analysis_app, person, **EPSILON)
    second, _ = _account(analysis_app, person, **EPSILON)
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        grant_id = grant_access(db, SYSTEM, email=second, slug=CLINIC, days=5, purpose="direct", disclosure_mode="dp")
        assert db.get(Grant, grant_id).budget_user_id == accounts.user_by_email(db, first).id
        fresh = f"person-{uuid.uuid4().hex[:10]}@example.org"
        accounts.create_user(db, SYSTEM, email=fresh, password="one-person-password", role="developer")
        own = grant_access(db, SYSTEM, email=fresh, slug=CLINIC, days=5, purpose="direct", disclosure_mode="dp")
        assert db.get(Grant, own).budget_user_id == accounts.user_by_email(db, fresh).id
