"""Expiry through `kaifang expire-applications`, and the stewards' audit pages: filters, CSV
export (formula cells defused), a run's code."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from portal.access import reviews
from portal.access.models import Application, Grant
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope, parse_row_filter
from portal.accounts import service as accounts
from portal.analysis.models import AnalysisRun
from portal.auth import SYSTEM
from portal.catalog.models import utcnow
from portal.db import session_scope
from tests import factories
from tests.integration.accounts.forms import mails

CLINIC = "clinic-visits-synthetic"


def test_expire_applications_marks_and_mails(access_app, monkeypatch):
    email = factories.user(access_app, "developer")
    with access_app.app_context(), session_scope(access_app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, email).id)
        made = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "p", "o", 5), review_days=2)
        reviews.approve_application(session, SYSTEM, made.application.id,
                                    ApprovalScope((DatasetScope(CLINIC),), date.today() + timedelta(days=5)))
        session.execute(update(Grant).where(Grant.application_id == made.application.id)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    from portal.cli import main

    monkeypatch.setenv("KAIFANG_INSTANCE", access_app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", access_app.config["SECRET_KEY"])
    result = CliRunner().invoke(main, ["expire-applications"])
    assert result.exit_code == 0, result.output
    with access_app.app_context(), session_scope(access_app) as session:
        assert session.get(Application, made.application.id).state == "expired"
    assert any("expired" in m["Subject"] for m in mails(access_app) if m["To"] == email)


def test_row_filter_lines_parse_and_refuse_nonsense():
    assert parse_row_filter("district eq 和平区\n\nage_band in 18-34, 35-59") == (
        {"column": "district", "op": "eq", "value": "和平区"},
        {"column": "age_band", "op": "in", "value": ["18-34", "35-59"]})
    for bad in ("district", "district like x", "district eq"):
        try:
            parse_row_filter(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def _runs(app, rows):
    with app.app_context(), session_scope(app) as session:
        for run_id, email, datasets, released, refusals, cpu, started, *given in rows:
            session.add(AnalysisRun(run_id=run_id, user_email=email, code_sha256="0" * 64, code_bytes=1,
                                    datasets_touched=datasets, cells_released=released, refusals=refusals,
                                    cpu_seconds=cpu, status="ok" if datasets else "refused", started_at=started,
                                    grants=[{"dataset": slug, "version": 1, "level": "aggregates", "grant_id": 1}
                                            for slug in (given[0] if given else datasets)]))
        session.commit()


def test_audit_filters_and_csv(access_app, as_role):
    steward = as_role("steward")
    _runs(access_app, [
        ("run-a", "=cmd@example.org", [CLINIC], 40, [], 0.1, datetime(2026, 3, 2, 8)),
        ("run-b", "b@example.org", ["nyc-flights-2013"], 0, [{"rule": "min-cell", "reason": "x"}], 2.5, datetime(2026, 3, 9, 8)),
        # refused before its first answer: it touched no dataset, and is the attempt a steward looks for
        ("run-c", "c@example.org", [], 0, [{"rule": "identifier", "reason": "x"}], 0.1, datetime(2026, 3, 10, 8), [CLINIC]),
    ])
    def listed(query):
        text = steward.get(f"/audit/runs?{query}").text
        return {r for r in ("run-a", "run-b", "run-c") if f"/audit/runs/{r}\"" in text}
    assert listed(f"dataset={CLINIC}") == {"run-a", "run-c"}
    assert listed("dataset=clinic") == listed("dataset=Clinic visits") == {"run-a", "run-c"}  # a part of its slug or title
    assert listed("dataset=flights") == {"run-b"} and listed("dataset=no-such-dataset") == set()
    assert CLINIC in steward.get("/audit/runs?user=c@example.org").text  # the refused run names the dataset it was given
    assert listed("user=b@example.org") == {"run-b"}
    assert listed("since=2026-03-05&until=2026-03-09") == {"run-b"}
    assert listed("refused=1&since=2026-03-01&until=2026-03-31") == {"run-b", "run-c"}
    assert listed("min_released=10&since=2026-03-01&until=2026-03-31") == {"run-a"}
    assert listed("min_cpu=1&since=2026-03-01&until=2026-03-31") == {"run-b"}
    assert steward.get("/audit/runs?since=yesterday").status_code == 422
    csv = steward.get("/audit/runs.csv?since=2026-03-01&until=2026-03-31")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("run_id,started_at,user") and len(lines) == 4
    assert any(line.startswith("run-c,") and CLINIC in line for line in lines)
    assert "'=cmd@example.org" in csv.data.decode("utf-8-sig")  # a formula cell is defused


def test_the_code_page_says_when_only_the_hash_was_kept(access_app, as_role):
    _runs(access_app, [("run-hash-only", "c@example.org", [], 0, [], 0.0, datetime(2026, 3, 3))])
    page = as_role("steward").get("/audit/runs/run-hash-only/code")
    assert page.status_code == 200 and "0" * 64 in page.text and "AUDIT_CODE_STORAGE" in page.text
    assert as_role("developer").get("/audit/runs/run-hash-only/code").status_code == 403
    with access_app.app_context(), session_scope(access_app) as session:
        assert session.scalar(select(AnalysisRun.code_encrypted).where(AnalysisRun.run_id == "run-hash-only")) is None


def test_the_queue_flags_overdue_applications(access_app):
    email = factories.user(access_app, "developer")
    with access_app.app_context(), session_scope(access_app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, email).id)
        made = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "p", "o", 5), review_days=2)
        due = made.application.due_at.replace(tzinfo=None)  # summaries carry UTC; `now` is naive UTC, as stored
        before = {a.id: a.overdue for a in reviews.review_queue(session, SYSTEM, now=due - timedelta(minutes=1))}
        after = {a.id: a.overdue for a in reviews.review_queue(session, SYSTEM, now=due + timedelta(minutes=1))}
    assert before[made.application.id] is False and after[made.application.id] is True


def test_the_queue_shows_the_time_left_to_decide(access_app, as_role):
    """The SLA clock: the queue says how long is left before each decision is due, or how long
    it is past due (a 5-working-day clock set back past its due time)."""
    email = factories.user(access_app, "developer")
    with access_app.app_context(), session_scope(access_app) as session:
        actor = accounts.actor_for(session, accounts.user_by_email(session, email).id)
        fresh = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "p", "o", 5), review_days=5).application.id
        late = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "q", "o", 5), review_days=5).application.id
        session.execute(update(Application).where(Application.id == late).values(due_at=utcnow() - timedelta(hours=30)))
        session.commit()
    steward = as_role("steward")
    steward.get("/locale/en")
    page = steward.get("/steward/applications").text
    rows = {row.split("</a>")[0].rsplit(">", 1)[-1]: row for row in page.split('<tr')[1:]}
    assert "1 d 6 h past due" in rows[str(late)]
    assert " h left" in rows[str(fresh)] and "past due" not in rows[str(fresh)]
