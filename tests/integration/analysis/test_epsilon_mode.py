"""The ε-budget (differential privacy) mode end to end through `submit_run`."""

from __future__ import annotations

import json
import shutil
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from portal.access.models import Grant
from portal.access.service import grant_access
from portal.accounts import service as accounts
from portal.accounts.models import User
from portal.analysis import audit
from portal.analysis.keys import create_key_file
from portal.analysis.models import AnalysisRun, EpsilonLedger
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import SYSTEM, Actor
from portal.catalog import publishing
from portal.catalog.disclosure_settings import EpsilonDefaults
from portal.db import session_scope
from portal.errors import Invalid
from tests.conftest import DATASETS

CLINIC = "clinic-visits-synthetic"
HOUSEHOLDS = "household-income-survey-synthetic"
CLINIC_FILE = str(next((DATASETS / CLINIC).glob("*.csv*")))
# What the ε mode counts of the clinic visits: at most 5 visits of a patient, among those the filter
# keeps. District, age band and sex are a patient's own (the same on every visit), so the count of
# a cell of them is the same whichever visits are kept; a visit's fields (diagnosis) go in `where`.
CAPPED = """SELECT {keys}, sum(least(visits, 5)) FROM (SELECT {keys}, patient_id, count(*) AS visits
            FROM read_csv('{file}') WHERE {where} GROUP BY ALL) GROUP BY ALL"""
DISTRICTS = ['东丽区', '北辰区', '南开区', '和平区', '宁河区', '宝坻区', '武清区', '河东区', '河北区', '河西区', '津南区',
             '滨海新区', '红桥区', '蓟州区', '西青区', '静海区']


@pytest.fixture
def dp_run(analysis_app):
    """A fresh analyst with one-day grants in the "dp" mode (ε 1.0 a day, 0.1 a query); returns a
    function running code through `submit_run`: (result, last printed line as JSON, run id)."""
    email = f"dp-{uuid.uuid4().hex[:10]}@example.org"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        accounts.create_user(session, SYSTEM, email=email, password="dp-analyst-password", role="developer")
        for slug in (CLINIC, HOUSEHOLDS):
            grant_access(session, SYSTEM, email=email, slug=slug, days=1, purpose="ε-mode tests",
                         disclosure_mode="dp", daily_epsilon=1.0)

    def run(code: str, *datasets: str):
        with analysis_app.app_context(), session_scope(analysis_app) as session:
            user = session.scalar(select(User).where(User.email == email))
            actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
            outcome = submit_run(session, actor, code=textwrap.dedent(code), datasets=list(datasets or (CLINIC,)),
                                 settings=replace(AnalysisSettings.from_config(analysis_app.config),
                                                  epsilon=EpsilonDefaults(daily=5.0, per_query=0.1)))
        lines = (outcome.result.get("stdout") or "").strip().splitlines()
        return outcome.result, json.loads(lines[-1]) if lines else None, outcome.run_id

    run.email = email
    return run


def ledger(app, email: str) -> list[tuple[float, int]]:
    with app.app_context(), session_scope(app) as session:
        user = session.scalar(select(User).where(User.email == email))
        rows = session.execute(select(EpsilonLedger.epsilon, EpsilonLedger.queries)
                               .join(Grant, Grant.id == EpsilonLedger.grant_id).where(Grant.user_id == user.id))
        return [tuple(r) for r in rows]


def test_grouped_counts_and_means_list_every_declared_level_with_intervals(dp_run):
    result, rows, _ = dp_run("""
        import json
        t = dataset("clinic-visits-synthetic").group_by("district").agg(count().alias("n"), mean("cost").alias("m")).collect()
        print(json.dumps([list(t.columns)] + [list(r) for r in t.rows], ensure_ascii=False))
    """)
    assert result["status"] == "ok", result
    columns, rows = rows[0], rows[1:]
    assert columns == ["district", "n", "m", "n_low", "n_high", "m_low", "m_high"]
    assert [r[0] for r in rows] == DISTRICTS, "the declared levels, in declared order"
    real = dict(duckdb.sql(CAPPED.format(file=CLINIC_FILE, keys="district", where="true")).fetchall())
    inside = sum(low <= real[d] <= high for d, _, _, low, high, _, _ in rows)
    assert inside >= 13, "a 95 % interval misses about 1 in 20 (of at most 5 visits per patient)"
    assert all(0 <= m <= 3_000_000 and m_low <= m <= m_high for _, _, m, _, _, m_low, m_high in rows)
    notes = " ".join(n["text"] for n in result["released"][0]["notes"])
    assert "ε 0.1 spent on this query" in notes and "ε spent 0.1 of 1 today" in notes
    assert "Each person (patient_id) counts with at most 5 of the records this query selects" in notes
    assert result["epsilon"] == [{"dataset": CLINIC, "grant_id": result["epsilon"][0]["grant_id"], "spent_in_run": 0.1,
                                  "spent_today": 0.1, "daily": 1.0, "spent_lifetime": 0.1, "lifetime": 10.0,
                                  "note": "ε spent 0.1 of 1 today, 0.1 of 10 over the grant's life"}]


def test_budget_is_spent_by_every_query_then_exhausted_and_refused(dp_run, analysis_app):
    result, outcomes, run_id = dp_run("""
        import json
        d = dataset("clinic-visits-synthetic")
        out = []
        for i in range(8):
            try:
                out.append(d.filter(col("visit_type") == "急诊").count())
            except QueryRefused as refusal:
                out.append(refusal.rule)
        print(json.dumps(out))
    """)
    assert result["status"] == "ok", result
    assert all(isinstance(o, int) for o in outcomes)
    assert ledger(analysis_app, dp_run.email) == [(0.8, 8)], "charged into the ledger as each query ran"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        assert session.scalar(select(AnalysisRun.status).where(AnalysisRun.run_id == run_id)) == "ok"
    result, outcomes, _ = dp_run("""
        import json
        d = dataset("clinic-visits-synthetic")
        out = []
        for i in range(4):
            try:
                out.append(d.count())
            except QueryRefused as refusal:
                out.append(refusal.rule)
        print(json.dumps(out))
    """)
    assert [type(o).__name__ for o in outcomes] == ["int", "int", "str", "str"]
    assert outcomes[2:] == ["epsilon-budget", "epsilon-budget"]
    assert ledger(analysis_app, dp_run.email) == [(1.0, 10)]
    assert "ε spent 1 of 1 today" in result["refused"][-1]["reason"]


def test_refused_queries_cost_epsilon_too(dp_run, analysis_app):
    result, outcomes, _ = dp_run("""
        import json
        d = dataset("clinic-visits-synthetic")
        out = []
        for attempt in (lambda: d.group_by("patient_id").agg(count()).collect(),
                        lambda: d.group_by("visit_date").agg(count()).collect(),
                        lambda: d.group_by("district").agg(max("cost")).collect()):
            try:
                attempt()
            except QueryRefused as refusal:
                out.append(refusal.rule)
        print(json.dumps(out))
    """)
    assert outcomes == ["identifier", "dp-levels", "dp-statistic"]
    assert ledger(analysis_app, dp_run.email) == [(0.3, 3)]
    assert "ε 0.1 spent on this query, refused or not" in result["refused"][0]["reason"]


def test_quantiles_of_sensitive_fields_and_implied_levels_in_dp_mode(dp_run):
    result, rows, _ = dp_run("""
        import json
        t = (dataset("household-income-survey-synthetic").group_by("has_vehicle")
             .agg(median("annual_income").alias("median"), sum("household_size").alias("people"))
             .sort("has_vehicle").collect())
        print(json.dumps([list(r) for r in t.rows]))
    """, HOUSEHOLDS)
    assert result["status"] == "ok", result
    path = next((DATASETS / HOUSEHOLDS).glob("*.csv*"))
    real = dict(duckdb.sql(f"SELECT has_vehicle, median(annual_income) FROM read_csv('{path}') GROUP BY 1").fetchall())
    assert [r[0] for r in rows] == [False, True]
    for flag, median, *_ in rows:
        assert abs(median - real[flag]) / real[flag] < 0.1, "ε 0.05 over ~50,000 records: within a few grid steps"


def test_sdc_mode_is_untouched_for_grants_without_the_dp_mode(sandbox_run):
    result = sandbox_run("""
        print(dataset("clinic-visits-synthetic").count())
    """, CLINIC)
    assert result["status"] == "ok" and "epsilon" not in result
    assert int(result["stdout"]) % 5 == 0


def test_a_dataset_chooses_the_mode_and_a_grant_overrides_it(app, tmp_path):
    """`kaifang.disclosure.mode = "dp"` in the descriptor puts every grant in the ε mode (with the
    dataset's ε), unless the grant says `sdc`; a bad mode is refused when the dataset is loaded."""
    folder = tmp_path / HOUSEHOLDS
    shutil.copytree(DATASETS / HOUSEHOLDS, folder)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["kaifang"]["disclosure"] = {"mode": "dp", "epsilon_per_query": 0.25, "daily_epsilon": 0.5}
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    code = "print(dataset('household-income-survey-synthetic').count())"
    create_key_file(Path(app.config["INSTANCE_PATH"]))  # what `kaifang init` does
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
        results = {}
        for email, mode in (("dataset-mode@example.org", None), ("grant-mode@example.org", "sdc")):
            user = accounts.create_user(session, SYSTEM, email=email, password="mode-test-password", role="developer")
            grant_access(session, SYSTEM, email=email, slug=HOUSEHOLDS, days=1, purpose="modes", disclosure_mode=mode)
            actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
            results[mode] = submit_run(session, actor, code=code, datasets=[HOUSEHOLDS],
                                       settings=AnalysisSettings.from_config(app.config)).result
    assert results[None]["epsilon"][0]["note"] == "ε spent 0.25 of 0.5 today, 0.25 of 5 over the grant's life"
    assert "epsilon" not in results["sdc"] and int(results["sdc"]["stdout"]) % 5 == 0
    descriptor["kaifang"]["disclosure"] = {"mode": "laplace"}
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    with app.app_context(), session_scope(app) as session, pytest.raises(Invalid) as refused:
        publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
    assert "mode must be one of sdc, dp" in refused.value.errors["kaifang.disclosure"][0]


def test_offline_runs_answer_a_dp_dataset_in_the_dp_mode(tmp_path):
    from portal.analysis.offline import run_offline

    folder = tmp_path / HOUSEHOLDS
    shutil.copytree(DATASETS / HOUSEHOLDS, folder)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["kaifang"]["disclosure"] = {"mode": "dp", "daily_epsilon": 0.2}
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    result = run_offline(textwrap.dedent("""
        d = dataset("household-income-survey-synthetic")
        print(list(d.group_by("urban_rural").agg(count()).collect().columns))
        print(d.count())
        try:
            d.count()
        except QueryRefused as refusal:
            print(refusal.rule)
    """), [folder])
    assert result["status"] == "ok", result
    columns, _, rule = result["stdout"].split("\n")[:3]
    assert columns == "['urban_rural', 'count', 'count_low', 'count_high']" and rule == "epsilon-budget"


@pytest.fixture
def cells(monkeypatch):
    """What reaches the mechanisms: every count released, before its noise, with its calibration."""
    from portal.analysis import privacy

    seen = []
    original = privacy.release_count

    def release_count(records, epsilon, **kwargs):
        noisy = original(records, epsilon, **kwargs)
        seen.append((records, kwargs.get("per_person", 1), noisy.scale))
        return noisy

    monkeypatch.setattr(privacy, "release_count", release_count)
    return seen


def test_a_patient_counts_with_at_most_five_visits_and_the_noise_is_five_times_a_records(dp_run, cells):
    """The patient with the most visits (16), described by age band, district and sex: the cell
    before noise is each patient's visits capped at 5, so the target moves it by 5, not 16, and
    the count's noise is calibrated for 5 records (scale 5/ε)."""
    target = duckdb.sql(f"SELECT patient_id, any_value(age_band), any_value(district), any_value(sex), count(*) "
                        f"FROM read_csv('{CLINIC_FILE}') GROUP BY 1 ORDER BY 5 DESC, 1 LIMIT 1").fetchall()[0]
    _, age, district, sex, visits = target
    assert visits == 16
    result, _, _ = dp_run(f"""
        d = dataset("clinic-visits-synthetic")
        print(d.filter((col("age_band") == "{age}") & (col("district") == "{district}") & (col("sex") == "{sex}")).count())
    """)
    assert result["status"] == "ok", result
    where = f"age_band = '{age}' AND district = '{district}' AND sex = '{sex}'"
    (expected,), = [r[1:] for r in duckdb.sql(CAPPED.format(file=CLINIC_FILE, keys="age_band", where=where)).fetchall()]
    uncapped = duckdb.sql(f"SELECT count(*) FROM read_csv('{CLINIC_FILE}') WHERE {where}").fetchall()[0][0]
    assert cells == [(expected, 5, 50.0)], "ε 0.1 on one count of at most 5 visits a patient"
    assert uncapped - expected >= 11, "the target alone had 11 visits more than the cap"
    notes = [n["code"] for n in result["released"][0]["notes"]]
    assert notes == ["dp-count", "dp-person", "epsilon-spent"]


def test_the_cap_is_per_person_and_after_the_filter(dp_run, cells):
    """Grouped by sex among respiratory visits: each cell is every patient's respiratory visits,
    up to 5 — not 5 of all their visits, some other — and a patient counts in one cell only
    (sex is the patient's), so the cells add up to the capped total."""
    result, _, _ = dp_run("""
        import json
        d = dataset("clinic-visits-synthetic")
        print(json.dumps(d.filter(col("diagnosis_group") == "呼吸系统疾病").group_by("sex").agg(count().alias("n")).collect().rows))
    """)
    assert result["status"] == "ok", result
    expected = dict(duckdb.sql(CAPPED.format(file=CLINIC_FILE, keys="sex",
                                             where="diagnosis_group = '呼吸系统疾病'")).fetchall())
    assert [c[0] for c in cells] == [expected["男"], expected["女"]]
    assert {c[1:] for c in cells} == {(5, 50.0)}


def test_the_household_survey_has_one_record_per_household():
    """Its record is its unit: no `person` to declare, each household protected with ε."""
    path = next((DATASETS / HOUSEHOLDS).glob("*.csv*"))
    records, households = duckdb.sql(f"SELECT count(*), count(DISTINCT household_id) FROM read_csv('{path}')").fetchall()[0]
    assert records == households
    descriptor = json.loads((DATASETS / HOUSEHOLDS / "datapackage.json").read_text(encoding="utf-8"))
    assert "person" not in descriptor["kaifang"]["disclosure"]


def test_the_audit_shows_the_epsilon_each_run_spent(dp_run, analysis_app, login_as):
    """A run in the ε-budget mode charges no cells: the stewards' audit records the ε it spent
    (the record, the runs list, the run's page and the CSV), and 0 for a run that spent none."""
    result, _, run_id = dp_run("""
        a = dataset("clinic-visits-synthetic").count()
        b = dataset("clinic-visits-synthetic").filter(col("sex") == "女").count()
        print(1)
    """)
    assert result["status"] == "ok", result
    _, _, idle = dp_run("print(2)")
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        assert audit.get_run(session, SYSTEM, run_id).epsilon_spent == pytest.approx(0.2)
        assert audit.get_run(session, SYSTEM, idle).epsilon_spent == 0.0
        lines = "".join(audit.export_runs_csv(session, SYSTEM, filters=audit.AuditFilter(user_email=dp_run.email)))
    header, *rows = lines.splitlines()
    assert header.endswith(",epsilon_spent")
    assert {row.split(",")[0]: row.rsplit(",", 1)[1] for row in rows} == {run_id: "0.2", idle: "0"}
    steward = login_as("steward", analysis_app)
    listed = steward.get(f"/audit/runs?user={dp_run.email}").text
    assert listed.count('class="epsilon-spent"') == 1 and "ε 0.2" in listed
    assert 'class="epsilon-spent">0.2<' in steward.get(f"/audit/runs/{run_id}").text
