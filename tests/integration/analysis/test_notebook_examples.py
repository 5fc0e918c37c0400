"""The notebook's worked examples run as they stand: in a portal session (through `submit_run`,
under a grant in each mode an example is offered in) and offline over the downloaded sample, and
what they release is marked by the rules of the mode (the suppression example really suppresses,
the median example lists every group with its noise)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access import reviews
from portal.access.models import Grant
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.analysis.offline import run_offline
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import SYSTEM
from portal.db import session_scope
from portal.notebook.examples import CLINIC, EXAMPLES, HOUSEHOLDS, examples_for
from tests import factories


@pytest.fixture(scope="module")
def granted_actors(analysis_app):
    """One developer approved for both datasets in each mode: the datasets' declared mode (the
    ε-budget one, decision 0030q) and the statistical mode a steward gives an accredited analyst."""
    actors = {}
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        for mode, chosen in (("dp", None), ("sdc", "sdc")):
            email = f"notebook-examples-{mode}@example.org"
            accounts.create_user(session, SYSTEM, email=email, password="examples-password-1", role="developer")
            actor = accounts.authenticate(session, email, "examples-password-1")
            changed = factories.apply_for(session, actor, ApplicationDraft((CLINIC, HOUSEHOLDS), "examples", "uni", 30),
                                         review_days=2)
            reviews.approve_application(session, SYSTEM, changed.application.id, ApprovalScope(
                (DatasetScope(CLINIC), DatasetScope(HOUSEHOLDS)), date.today() + timedelta(days=30), 100000,
                disclosure_mode=chosen))
            modes = set(session.scalars(select(Grant.disclosure_mode).where(Grant.application_id == changed.application.id)))
            assert modes == {chosen}
            actors[mode] = actor
    return actors


def _portal_run(app, actor, code: str) -> dict:
    settings = AnalysisSettings.from_config({**app.config, "ANALYSIS_ANSWER_QUANTUM_MS": 1})
    with app.app_context(), session_scope(app) as session:
        return submit_run(session, actor, code=code, datasets=[CLINIC, HOUSEHOLDS], settings=settings).result


def test_both_conditional_datasets_have_examples_in_both_modes():
    for mode in ("sdc", "dp"):
        assert examples_for({CLINIC: mode}) and examples_for({HOUSEHOLDS: mode})
    assert "clinic-suppressed" not in {e.key for e in examples_for({CLINIC: "dp"})}
    assert "clinic-median-cost" not in {e.key for e in examples_for({CLINIC: "sdc"})}
    # in the ε-budget mode money is summarised by its median: a mean's noise scales with its bound
    for mode_examples in (examples_for({CLINIC: "dp"}), examples_for({HOUSEHOLDS: "dp"})):
        assert not any("mean(" in e.code for e in mode_examples)
    assert len({e.key for e in EXAMPLES}) == len(EXAMPLES)


@pytest.mark.parametrize(("example", "mode"), [(e, m) for e in EXAMPLES for m in e.modes],
                         ids=[f"{e.key}-{m}" for e in EXAMPLES for m in e.modes])
def test_each_example_runs_in_a_portal_session(analysis_app, granted_actors, example, mode):
    result = _portal_run(analysis_app, granted_actors[mode], example.code)
    assert result["status"] == "ok", result
    assert not result["refused"], result["refused"]
    assert result["released"] and all(r["datasets"] == [example.slug] for r in result["released"])
    kinds = [o["kind"] for o in result["outputs"]]
    assert "table" in kinds or "chart" in kinds or result["stdout"].strip(), result
    # every release from conditional data carries the rules that applied to it
    assert all(r["notes"] for r in result["released"] if r["action"] == "collect")
    assert bool(result.get("epsilon")) == (mode == "dp"), result.get("epsilon")


def test_the_suppression_example_leaves_groups_out(analysis_app, granted_actors):
    example = next(e for e in EXAMPLES if e.key == "clinic-suppressed")
    result = _portal_run(analysis_app, granted_actors["sdc"], example.code)
    table = next(o for o in result["outputs"] if o["kind"] == "table")
    assert 0 < table["total_rows"] < 32, table  # some district/sex groups listed, some suppressed
    assert any("fewer than about" in note["text"] for note in result["released"][0]["notes"])


def test_the_median_example_lists_every_group_with_intervals(analysis_app, granted_actors):
    example = next(e for e in EXAMPLES if e.key == "clinic-median-cost")
    result = _portal_run(analysis_app, granted_actors["dp"], example.code)
    table = next(o for o in result["outputs"] if o["kind"] == "table")
    assert {"visits", "visits_low", "visits_high", "median_cost"} <= set(table["columns"]), table
    assert table["total_rows"] == 8, table  # every declared age band, empty or not


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.key for e in EXAMPLES])
def test_each_example_runs_offline_over_the_sample(analysis_app, tmp_path, example):
    package = tmp_path / f"{example.slug}-sample.zip"
    response = analysis_app.test_client().get(f"/datasets/{example.slug}/sample.zip")
    assert response.status_code == 200
    package.write_bytes(response.get_data())
    result = run_offline(example.code, [package])
    assert result["status"] == "ok", result
