"""Fixtures of the disclosure attack tests: the raw truth in DuckDB and a fresh attacker per test."""

from __future__ import annotations

import json
import textwrap
import uuid

import duckdb
import pytest

from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import DATASETS

CLINIC = "clinic-visits-synthetic"


@pytest.fixture(scope="module")
def raw():
    """The raw clinic file in DuckDB: the truth the attacker is trying to learn."""
    con = duckdb.connect()
    path = next((DATASETS / CLINIC).glob("*.csv*"))
    con.execute(f"CREATE TABLE v AS SELECT * FROM read_csv('{path}')")
    yield con
    con.close()


@pytest.fixture
def attacker(analysis_app):
    """A fresh analyst (so a fresh one-day grant and budget) for each attack."""
    email = f"attacker-{uuid.uuid4().hex[:10]}@example.org"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        accounts.create_user(session, SYSTEM, email=email, password="attacker-password", role="developer")
    return email


# Analyst-side helpers every attack may use: the value of an attempt, or the rule that refused it.
PRELUDE = """\
def outcome(attempt):
    try:
        return attempt()
    except QueryRefused as refusal:
        return refusal.rule


def collected(attempt):
    return outcome(lambda: attempt().collect().rows)
"""


@pytest.fixture
def attack(sandbox_run, attacker):
    """Run analyst code (after `PRELUDE`) over the clinic data; returns (result, last printed
    line as JSON)."""

    def run(code: str, *grants: str) -> tuple[dict, object]:
        result = sandbox_run(PRELUDE + textwrap.dedent(code), *(grants or (CLINIC,)), user=attacker)
        lines = (result.get("stdout") or "").strip().splitlines()
        return result, json.loads(lines[-1]) if lines else None

    return run


@pytest.fixture
def public_app(analysis_app, statistical_public):
    """The analysis app for attacks on the public aggregates' statistical path (`statistical_public`):
    answers padded to 1 ms, no rate limit, and a public cell budget no attack exhausts (the
    budget has tests of its own)."""
    analysis_app.config["ANALYSIS_ANSWER_QUANTUM_MS"] = 1
    analysis_app.config["RATELIMIT_ENABLED"] = False
    saved = analysis_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"]
    analysis_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"] = 1_000_000
    yield analysis_app
    analysis_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"] = saved
