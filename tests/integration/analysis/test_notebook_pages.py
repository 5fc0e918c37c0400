"""The notebook's pages: sign-in required, another person's session is a 404, the page carries
the session's datasets (cut to the grant) for completion, the export and the cell budget follow
the session's runs, and analyst output reaches the page only as JSON data, never as markup."""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from portal.access import reviews
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from portal.notebook.examples import CLINIC, EXAMPLES, HOUSEHOLDS
from tests import factories

FLIGHTS = "nyc-flights-2013"
CONFIG = re.compile(r"data-config='([^']*)'")
TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def developer(analysis_app, login_as):
    """A signed-in developer client; `developer(grant=(slug, ...), columns=None, mode=None)` (None:
    each dataset's declared mode, the ε-budget one for the bundled conditional data)."""
    def make(grant=(), columns=None, mode=None):
        client = login_as("developer", app=analysis_app)
        if grant:
            with analysis_app.app_context(), session_scope(analysis_app) as session:
                actor = accounts.authenticate(session, client.email, "factory-password-1")
                changed = factories.apply_for(session, actor, ApplicationDraft(tuple(grant), "notebook", "uni", 30),
                                             review_days=2)
                reviews.approve_application(session, SYSTEM, changed.application.id, ApprovalScope(
                    tuple(DatasetScope(slug, columns=columns) for slug in grant), date.today() + timedelta(days=30), 3000,
                    disclosure_mode=mode))
        client.token = TOKEN.search(client.get("/notebook/").text).group(1)
        return client
    return make


def _open(client, *datasets) -> str:
    response = client.post("/notebook/api/sessions", json={"datasets": list(datasets)}, headers={"X-CSRFToken": client.token})
    assert response.status_code == 201, response.json
    return response.json["id"]


def _run(client, session_id: str, code: str) -> dict:
    response = client.post(f"/notebook/api/sessions/{session_id}/runs", json={"code": code},
                           headers={"X-CSRFToken": client.token})
    assert response.status_code == 202, response.json
    run = response.json
    for _ in range(20):
        if run["status"] in ("done", "error"):
            return run
        run = client.get(f"/notebook/api/runs/{run['id']}?wait=10").json
    raise AssertionError(f"run {run['id']} did not finish: {run}")


def _config(page: str) -> dict:
    return json.loads(html.unescape(CONFIG.search(page).group(1)))


@pytest.mark.parametrize("path", ["/notebook/", "/notebook/abc", "/notebook/abc/export.py", "/notebook/abc/budget"])
def test_anonymous_visitors_are_sent_to_sign_in(analysis_app, path):
    response = analysis_app.test_client().get(path)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_the_list_offers_granted_conditional_and_open_datasets_only(developer):
    granted, plain = developer(grant=(CLINIC,)), developer()
    page = granted.get("/notebook/").text
    assert f'value="{CLINIC}"' in page and f'value="{FLIGHTS}"' in page and f'value="{HOUSEHOLDS}"' not in page
    page = plain.get("/notebook/").text
    assert f'value="{CLINIC}"' not in page and f'value="{FLIGHTS}"' in page


def test_another_persons_session_is_not_found(developer):
    owner, other = developer(grant=(CLINIC,)), developer(grant=(CLINIC,))
    session_id = _open(owner, CLINIC)
    assert owner.get(f"/notebook/{session_id}").status_code == 200
    for path in (f"/notebook/{session_id}", f"/notebook/{session_id}/export.py", f"/notebook/{session_id}/budget"):
        response = other.get(path)
        assert response.status_code == 404, path
        assert "data-config" not in response.text and "kaifang-notebook" not in response.text
    assert owner.get("/notebook/no-such-session").status_code == 404


def test_the_page_carries_the_granted_columns_for_completion(developer):
    client = developer(grant=(CLINIC,), columns=("district", "age_band", "sex", "cost"))
    session_id = _open(client, CLINIC, FLIGHTS)
    page = client.get(f"/notebook/{session_id}").text
    config = _config(page)
    columns = {c["label"] for c in config["words"]["columns"]}
    assert {"district", "age_band", "cost"} <= columns and "visit_type" not in columns and "patient_id" not in columns
    assert "carrier" in columns  # the open dataset's columns too
    assert {d["label"] for d in config["words"]["datasets"]} == {CLINIC, FLIGHTS}
    assert config["levels"]["sex"] == ["男", "女"] and config["conditional"] == [CLINIC]
    assert [e["slug"] for e in config["examples"]] == [CLINIC, CLINIC]
    assert f"/datasets/{CLINIC}/sample.zip" in page  # the sample download
    assert "group_by" in page and "count_distinct" in page  # the API reference panel


@pytest.mark.parametrize("mode", ["sdc", None])
def test_runs_export_and_budget_follow_the_session(developer, mode):
    client = developer(grant=(CLINIC, HOUSEHOLDS), mode=mode)
    session_id = _open(client, CLINIC, HOUSEHOLDS)
    before = client.get(f"/notebook/{session_id}/budget").json
    assert {g["dataset"] for g in before["grants"]} == {CLINIC, HOUSEHOLDS} and before["queries_per_run"] > 0
    example = next(e for e in EXAMPLES if e.key == ("clinic-by-district" if mode == "sdc" else "clinic-by-district-dp"))
    run = _run(client, session_id, example.code)
    assert run["status"] == "done" and run["result"]["status"] == "ok", run
    assert _run(client, session_id, "this is not python(")["result"]["status"] == "error"
    after = {g["dataset"]: g for g in client.get(f"/notebook/{session_id}/budget").json["grants"]}
    spent = {g["dataset"]: g for g in before["grants"]}
    if mode == "sdc":  # a statistical grant spends released cells
        assert after[CLINIC]["cells_left"] < spent[CLINIC]["cells_left"] and after[CLINIC]["epsilon_left"] is None
    else:  # the declared ε-budget mode spends ε: one query of 0.1 out of the day's 1
        assert after[CLINIC]["mode"] == "dp" and after[CLINIC]["epsilon_daily"] == 1.0
        assert after[CLINIC]["epsilon_left"] == 0.9 and spent[CLINIC]["epsilon_left"] == 1.0
    assert after[HOUSEHOLDS] == spent[HOUSEHOLDS]

    exported = client.get(f"/notebook/{session_id}/export.py")
    assert exported.status_code == 200 and exported.mimetype == "text/x-python"
    assert f'filename="kaifang-notebook-{session_id}.py"' in exported.headers["Content-Disposition"]
    assert example.code.strip() in exported.text and "# this is not python(" in exported.text

    config = _config(client.get(f"/notebook/{session_id}").text)
    assert [r["code"] for r in config["session"]["runs"]] == [example.code, "this is not python("]
    assert all("state" not in (r["result"] or {}) for r in config["session"]["runs"])


def test_hostile_output_reaches_the_page_as_data_only(developer):
    client = developer()
    session_id = _open(client, FLIGHTS)
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    run = _run(client, session_id, f"print({hostile!r})\nshow({hostile!r})")
    assert run["result"]["status"] == "ok", run
    page = client.get(f"/notebook/{session_id}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert _config(page)["session"]["runs"][0]["result"]["stdout"] == hostile + "\n"  # intact, as data


def test_links_to_the_notebook(analysis_app, developer):
    granted, plain = developer(grant=(CLINIC,)), developer()
    link = f"/notebook/?dataset={CLINIC}"
    assert link in granted.get(f"/datasets/{CLINIC}").text
    page = plain.get(f"/datasets/{CLINIC}").text
    assert link not in page and f"/access/apply?dataset={CLINIC}" in page
    assert link not in analysis_app.test_client().get(f"/datasets/{CLINIC}").text
    assert 'href="/notebook/"' in plain.get("/account").text
    assert 'href="/notebook/"' not in analysis_app.test_client().get("/").text
    page = granted.get(link).text
    assert re.search(rf'value="{CLINIC}" checked', page)


def test_a_closed_session_is_listed_reopened_and_exported(developer):
    client = developer()
    session_id = _open(client, FLIGHTS)
    _run(client, session_id, 'n = dataset("nyc-flights-2013").count()\nprint(n)')
    assert client.delete(f"/notebook/api/sessions/{session_id}", headers={"X-CSRFToken": client.token}).status_code == 204
    listing = client.get("/notebook/").text
    assert f'href="/notebook/{session_id}"' in listing and f'href="/notebook/{session_id}/export.py"' in listing
    config = _config(client.get(f"/notebook/{session_id}").text)
    assert config["session"]["status"] == "closed" and len(config["session"]["runs"]) == 1
    assert 'n = dataset("nyc-flights-2013").count()' in client.get(f"/notebook/{session_id}/export.py").text


JS = Path(__file__).resolve().parents[3] / "portal/static/js/notebook.js"


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_every_string_the_script_shows_is_in_the_pages_messages(developer, locale):
    """notebook.js shows `t(key)`: each literal key (and each key it builds: statuses, the footer's
    plural forms, the budget's labels) is in `config.messages`, in Chinese on a Chinese page."""
    client = developer(grant=(CLINIC,))
    client.get(f"/locale/{locale}")
    messages = _config(client.get(f"/notebook/{_open(client, CLINIC)}").text)["messages"]
    script = JS.read_text(encoding="utf-8")
    literal = {json.loads(f'"{k}"') for k in re.findall(r'\bt\("((?:[^"\\]|\\.)*)"\)', script)}
    built = {"status:open", "status:closed", "status:expired", "released:one", "released:other",
             "budget:cells", "budget:epsilon", "budget:mixed", "result:ok", "result:refused"}
    assert len(literal) > 30
    assert not (literal | built) - messages.keys()
    assert "{n}" in messages["released:one"] and "{n}" in messages["{n} refused"]
    assert "{left}" in messages["{left} of {total}"] and "{total}" in messages["{left} of {total}"]
    if locale == "en":
        assert messages["released:one"] == "{n} query released" and messages["released:other"] == "{n} queries released"
        assert messages["budget:epsilon"] == "ε left today" and messages["budget:cells"] == "Released cells left today"
    else:
        assert messages["status:open"] == "进行中" and messages["status:closed"] == "已关闭"
        assert messages["released:one"] == "已发布 {n} 个查询" and messages["{n} refused"] == "已拒绝 {n} 个"
        assert messages["budget:epsilon"] == "今日剩余 ε"
        untranslated = [k for k in literal if messages[k] == k and k != "CPU" and re.search(r"[A-Za-z]{3,}", k)]
        assert not untranslated, untranslated


def test_the_session_badge_says_in_progress_not_open_data(developer):
    client = developer(grant=(CLINIC,))
    client.get("/locale/zh_CN")
    session_id = _open(client, CLINIC)
    assert re.search(r'id="nb-status" class="badge nb-status-open">进行中<', client.get(f"/notebook/{session_id}").text)
    assert 'class="badge nb-status-open">进行中<' in client.get("/notebook/").text
