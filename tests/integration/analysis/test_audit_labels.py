"""The stewards' audit pages in the reader's language: a run's status, a query's outcome and a
run's flags show translated labels (the codes stay the filter's values and beside each flag),
times say UTC like the other pages, and every steward page links the others, the run queue too."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.analysis.models import AnalysisQuery, AnalysisRun
from portal.catalog.models import utcnow
from portal.db import session_scope
from tests.integration.test_page_languages import wrong_script

EMAIL = "labels@example.org"
FLAG = {"flag": "many-refusals", "detail": "3 of 4 queries refused", "queries": [1, 2, 3]}


@pytest.fixture
def steward(analysis_app, login_as):
    with analysis_app.app_context(), session_scope(analysis_app) as db:
        if db.scalar(select(AnalysisRun.id).where(AnalysisRun.run_id == "run-labels")) is not None:
            return login_as("steward", app=analysis_app)  # the app is the module's
        run = AnalysisRun(run_id="run-labels", user_email=EMAIL, code_sha256="0" * 64, code_bytes=1,
                          started_at=utcnow(), status="timeout", queries=2, flags=[FLAG], flagged=True)
        db.add(run)
        db.flush()
        db.add(AnalysisQuery(run_id=run.id, number=1, plan={}, status="ok"))
        db.add(AnalysisQuery(run_id=run.id, number=2, plan={}, status="refused", rule="min-cell", reason="x"))
        db.commit()
    return login_as("steward", app=analysis_app)


def test_the_audit_shows_labels_in_chinese_and_keeps_the_codes(steward):
    steward.get("/locale/zh_CN")
    page = steward.get(f"/audit/runs?user={EMAIL}").text  # this test's run alone: the app may hold other tests' runs
    assert '<option value="timeout">超时</option>' in page and '<option value="killed">被强制终止</option>' in page
    assert '<option value="ok">完成</option>' in page and "<option value=\"running\">运行中</option>" in page
    row = re.search(r'<tr class="flagged">.*?</tr>', page, re.S).group(0)
    assert "<td>超时</td>" in row and ">timeout<" not in row
    assert '<span class="flag">大量查询被拒</span> <code class="flag-code" translate="no" lang="en" title="3 of 4 queries ' \
           'refused">many-refusals</code>' in row
    assert re.search(r"\d\d:\d\d:\d\d UTC</a>", row)
    assert not wrong_script(page, "zh")
    run = steward.get("/audit/runs/run-labels").text
    assert "<dd>超时</dd>" in run and "已回答" in run and "大量查询被拒" in run
    assert re.search(r"<dd>[\d-]+ [\d:]+ UTC</dd>", run)
    assert not wrong_script(run, "zh")


def test_the_audit_in_english_says_what_the_codes_mean(steward):
    steward.get("/locale/en")
    page = steward.get(f"/audit/runs?user={EMAIL}").text
    assert '<option value="timeout">timed out</option>' in page and "many refused queries" in page
    assert not wrong_script(page, "en")


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("path", ["/audit/runs", "/audit/runs/run-labels", "/audit/queue", "/steward/applications",
                                  "/steward/grants"])
def test_every_steward_page_links_the_others_and_the_run_queue(steward, path, locale):
    steward.get(f"/locale/{locale}")
    response = steward.get(path)
    assert response.status_code == 200, path
    nav = re.search(r'<p class="steward-nav">.*?</p>', response.text, re.S).group(0)
    links = set(re.findall(r'href="([^"]+)"', nav))
    here = {"/audit/runs/run-labels": set()}.get(path, {path})
    assert links | here >= {"/steward/applications", "/steward/grants", "/audit/runs", "/audit/queue"}
    assert ("运行队列" if locale == "zh_CN" else "Run queue") in nav
