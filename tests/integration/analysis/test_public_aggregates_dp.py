"""Public aggregates of a dataset in the ε-budget mode (decision 0030z): answered by that mode's
mechanisms, calibrated for one person's records, spending the public's ε per dataset (a day and
over all days); a question is paid for once per version and its answer kept for everyone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.analysis.models import AnalysisRun, PublicAnswer, PublicEpsilon
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from tests.conftest import DATASETS, make_app
from tests.integration.analysis.conftest import write_fixed_key

CLINIC = "clinic-visits-synthetic"
URL = f"/api/v1/datasets/{CLINIC}/public-aggregate"
PER_QUERY = 0.1  # the portal's default ε per query: the clinic visits declare none


@pytest.fixture(scope="module")
def dp_app(tmp_path_factory):
    """The clinic visits alone, a public ε of 0.25 a day (two questions) and 0.35 in all (three)."""
    app = make_app(tmp_path_factory.mktemp("public-dp") / "instance", ANALYSIS_ANSWER_QUANTUM_MS=1,
                   RATELIMIT_ENABLED=False, PUBLIC_AGGREGATE_DAILY_EPSILON=0.25,
                   PUBLIC_AGGREGATE_LIFETIME_EPSILON=0.35)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / CLINIC, data_dir=Path(app.config["DATA_DIR"]))
    return app


def _ask(app, query: str, **headers):
    return app.test_client().get(f"{URL}?{query}", headers=headers)


def _public_epsilon(app) -> list[tuple]:
    with app.app_context(), session_scope(app) as session:
        return [(row.epsilon, row.queries) for row in session.scalars(select(PublicEpsilon))]


def test_the_public_budget_in_the_epsilon_mode_from_the_first_question_to_the_last(dp_app):
    """One scenario, in order, on one public budget: a count by two fields in the ε mode; the
    same question in the other order gets the kept figures and spends nothing; another question; the day's
    ε refuses a third new question while kept ones are answered; the next day the lifetime ε
    allows one more and then refuses."""
    first = _ask(dp_app, "by=district,sex", **{"Accept-Language": "en"})
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["mode"] == "dp" and body["columns"] == ["district", "sex", "count", "count_low", "count_high"]
    assert len(body["rows"]) == 16 * 2 and all(isinstance(row[2], int) for row in body["rows"])  # every cell listed
    assert all(low <= figure <= high for _, _, figure, low, high in body["rows"])
    assert {"dp-person"} <= {n["code"] for n in body["notes"]} and "epsilon-spent" not in {n["code"] for n in body["notes"]}
    assert all(n["message"] for n in body["notes"])
    assert body["epsilon"] == {"spent": PER_QUERY, "per_query": PER_QUERY, "daily": 0.25, "left_today": 0.15,
                               "lifetime": 0.35, "left": 0.25}
    assert body["cells_charged"] is None and body["cells_left"] is None
    assert _public_epsilon(dp_app) == [(PER_QUERY, 1)]

    swapped = _ask(dp_app, "by=sex,district").get_json()
    assert swapped["columns"][:3] == ["sex", "district", "count"] and swapped["epsilon"]["spent"] == 0
    assert sorted((d, s, *n) for s, d, *n in swapped["rows"]) == sorted(map(tuple, body["rows"]))
    assert _ask(dp_app, "by=district,sex").get_json()["rows"] == body["rows"]  # the same draw, whoever asks
    assert _public_epsilon(dp_app) == [(PER_QUERY, 1)]

    band = _ask(dp_app, "by=age_band").get_json()
    assert band["epsilon"]["spent"] == PER_QUERY and band["epsilon"]["left_today"] == pytest.approx(0.05)

    refused = _ask(dp_app, "by=visit_type")
    assert refused.status_code == 429 and refused.get_json()["code"] == "public-budget-spent"
    assert "Retry-After" in refused.headers and "ε" in refused.get_json()["detail"]
    assert _ask(dp_app, "by=sex,district").status_code == 200  # kept answers stay answered
    assert sum(e for e, _ in _public_epsilon(dp_app)) == pytest.approx(0.2)  # the refusal spent nothing

    with dp_app.app_context(), session_scope(dp_app) as session:  # the next day: yesterday's ε is history
        for row in session.scalars(select(PublicEpsilon)):
            row.day -= timedelta(days=1)
        session.commit()
    assert _ask(dp_app, "by=visit_type").get_json()["epsilon"]["left"] == pytest.approx(0.05)
    last = _ask(dp_app, "by=insurance_type")
    assert last.status_code == 429 and "over all days" in last.get_json()["detail"]
    with dp_app.app_context(), session_scope(dp_app) as session:
        kept = session.scalars(select(PublicAnswer.question)).all()
        assert len(kept) == 3 and sorted(kept)[0].startswith('[["age_band"]')
        runs = session.scalars(select(AnalysisRun).where(AnalysisRun.user_email == "public")).all()
        assert [r.status for r in runs] == ["ok", "ok", "refused", "ok", "refused"]  # kept answers run nothing


def test_the_page_says_the_mode_and_the_public_s_epsilon(dp_app):
    client = dp_app.test_client()
    client.get("/locale/en")
    form = client.get(f"/datasets/{CLINIC}").text
    assert "Privacy budget (ε) left today for every visitor together" in form
    page = client.get(f"/datasets/{CLINIC}/public-aggregate?by1=district&by2=sex&stat=count").text
    assert 'data-mode="dp"' in page and "Every figure carries random noise (differential privacy)" in page
    assert "Minimum cell" not in page
    # the footnote names the interval's columns as the table's headers do
    assert "Number of records (count): discrete Laplace noise" in page and "count_low/count_high" not in page
    assert "its 95 % interval in the columns “Low end (95 in 100 interval)” and “High end (95 in 100 interval)”" in page
