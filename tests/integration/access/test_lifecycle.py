"""Applications through the pages, as people use them: apply from the dataset page, the steward
approves with a scope or refuses, the applicant withdraws or renews; every change is in the
history and mailed; every form needs its CSRF token."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.access.models import (
    Application,
    ApplicationEvent,
    CellAccountTotal,
    EpsilonAccountTotal,
    Grant,
)
from portal.db import session_scope
from tests import factories
from tests.integration.accounts.forms import csrf, mails, post_form

CLINIC, INCOME, FLIGHTS = "clinic-visits-synthetic", "household-income-survey-synthetic", "nyc-flights-2013"
FORM = {"purpose": "区级门诊负担研究 / outpatient burden by district", "organisation": "Nankai University",
        "fields_wanted": "district, age_band, cost", "intended_outputs": "a table of mean cost by district",
        "duration_days": "60"}


PEOPLE = itertools.count(100)


def apply(client, *datasets, save="submit", person=None):
    """The form as an applicant fills it, with a real-name identity: a new person each call
    unless `person` says whose (decision 0031e)."""
    who = factories.identity(next(PEOPLE) if person is None else person)
    return post_form(client, "/access/apply", {**FORM, "datasets": list(datasets), "save": save,
                                               "applicant_name": who.name, "document_type": who.document_type,
                                               "id_number": who.number})


def application_id(response) -> int:
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def approve(steward, app_id, **fields):
    data = {f"approve-{CLINIC}": "1", f"version-{CLINIC}": "1", f"columns-{CLINIC}": ["district", "age_band", "cost"],
            f"filter-{CLINIC}": "", "expires_on": (date.today() + timedelta(days=30)).isoformat(),
            "daily_cell_budget": "3000", "note": "ok", **fields}
    return post_form(steward, f"/steward/applications/{app_id}/approve", data, form_page=f"/access/applications/{app_id}")


def test_the_conditional_dataset_page_links_to_the_form_with_the_dataset_ticked(as_role):
    page = as_role("public").get(f"/datasets/{CLINIC}")
    assert f'href="/access/apply?dataset={CLINIC}"' in page.text
    form = as_role("developer").get(f"/access/apply?dataset={CLINIC}")
    assert form.status_code == 200
    assert _ticked(form.text, CLINIC)
    assert not _ticked(form.text, INCOME)


def test_the_dataset_page_and_its_json_say_which_mode_an_approval_gets(as_role):
    """An applicant learns before applying what kind of answers a grant gives (decision 0030q):
    the clinic visits declare the ε-budget mode; open datasets have no mode."""
    public = as_role("public")
    chinese = public.get(f"/datasets/{CLINIC}").text
    assert "ε 预算模式" in chinese.split('id="disclosure-mode"', 1)[1].split("</p>", 1)[0]
    public.get("/locale/en")
    english = public.get(f"/datasets/{CLINIC}").text
    assert "ε-budget mode" in english.split('id="disclosure-mode"', 1)[1].split("</p>", 1)[0]
    assert public.get(f"/api/v1/datasets/{CLINIC}").get_json()["disclosure_mode"] == "dp"
    assert public.get(f"/api/v1/datasets/{FLIGHTS}").get_json()["disclosure_mode"] is None
    assert 'id="disclosure-mode"' not in public.get(f"/datasets/{FLIGHTS}").text


def _ticked(html: str, slug: str) -> bool:
    import re
    for tag in re.findall(r"<input[^>]*>", html):
        if f'value="{slug}"' in tag and 'name="datasets"' in tag:
            return "checked" in tag
    return False


def test_apply_approve_with_a_scope_and_see_the_grant(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    response = apply(developer, CLINIC, INCOME)
    assert response.status_code == 302
    app_id = application_id(response)
    queue = steward.get("/steward/applications")
    assert queue.status_code == 200 and developer.email in queue.text
    page = steward.get(f"/access/applications/{app_id}")
    assert "approve-form" in page.text and "district" in page.text
    decided = approve(steward, app_id, **{f"filter-{CLINIC}": "district eq 和平区"})
    assert decided.status_code == 302, decided.text
    mine = developer.get("/access/applications")
    assert "approved" in mine.text or "已批准" in mine.text
    with access_app.app_context(), session_scope(access_app) as session:
        grants = session.scalars(select(Grant).where(Grant.application_id == app_id)).all()
        states = [(e.from_state, e.to_state) for e in session.scalars(
            select(ApplicationEvent).where(ApplicationEvent.application_id == app_id).order_by(ApplicationEvent.id))]
    assert len(grants) == 1  # INCOME was not ticked for approval
    assert grants[0].columns == ["district", "age_band", "cost"] and grants[0].version == 1
    assert grants[0].row_filter == [{"column": "district", "op": "eq", "value": "和平区"}]
    assert grants[0].daily_cell_budget == 3000
    assert states == [("", "draft"), ("draft", "submitted"), ("submitted", "approved")]
    to_developer = [m for m in mails(access_app) if m["To"] == developer.email]
    assert any("approved" in m["Subject"] for m in to_developer)
    to_steward = [m["Subject"] for m in mails(access_app) if m["To"] == steward.email]
    assert any("submitted" in s for s in to_steward) and any("approved" in s for s in to_steward)


def test_an_approval_is_in_the_dataset_s_mode_unless_the_steward_accredits(access_app, as_role):
    """Decision 0030q: the bundled clinic visits declare the ε-budget mode; an approval keeps it by
    default, the steward may choose the statistical mode, and the pages say which a grant is in."""
    steward = as_role("steward")
    modes = {}
    for chosen in ("", "sdc", "dp"):
        developer = as_role("developer")
        app_id = application_id(apply(developer, CLINIC))
        assert approve(steward, app_id, disclosure_mode=chosen).status_code == 302
        with access_app.app_context(), session_scope(access_app) as session:
            grant = session.scalars(select(Grant).where(Grant.application_id == app_id)).one()
        modes[chosen] = grant.disclosure_mode
        page = developer.get(f"/access/applications/{app_id}").text
        assert ("mode-sdc" if chosen == "sdc" else "mode-dp") in page
    assert modes == {"": None, "sdc": "sdc", "dp": "dp"}
    grants = steward.get("/steward/grants").text
    assert "mode-sdc" in grants and "mode-dp" in grants
    unknown = approve(steward, application_id(apply(as_role("developer"), CLINIC)), disclosure_mode="raw")
    assert unknown.status_code == 422 and "disclosure_mode" in unknown.text


def test_refusal_needs_a_reason_and_reaches_the_applicant(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    app_id = application_id(apply(developer, CLINIC))
    path = f"/steward/applications/{app_id}/refuse"
    empty = post_form(steward, path, {"reason": ""}, form_page=f"/access/applications/{app_id}")
    assert empty.status_code == 422
    done = post_form(steward, path, {"reason": "目的不明确 / purpose unclear"}, form_page=f"/access/applications/{app_id}")
    assert done.status_code == 302
    page = developer.get(f"/access/applications/{app_id}")
    assert "purpose unclear" in page.text
    assert any("refused" in m["Subject"] and "purpose unclear" in m.get_content()
               for m in mails(access_app) if m["To"] == developer.email)
    again = post_form(steward, path, {"reason": "twice"}, form_page=f"/access/applications/{app_id}")
    assert again.status_code == 409


def test_draft_submit_withdraw_and_renew(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    draft_id = application_id(apply(developer, CLINIC, save="draft"))
    assert f'/access/applications/{draft_id}"' not in steward.get("/steward/applications").text
    post_form(developer, f"/access/applications/{draft_id}/submit", {}, form_page=f"/access/applications/{draft_id}")
    withdrawn = post_form(developer, f"/access/applications/{draft_id}/withdraw", {"reason": "changed plans"},
                          form_page=f"/access/applications/{draft_id}")
    assert withdrawn.status_code == 302
    other = application_id(apply(developer, CLINIC))
    assert approve(steward, other).status_code == 302
    renewed = post_form(developer, f"/access/applications/{other}/renew", {}, form_page=f"/access/applications/{other}")
    assert renewed.status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        rows = {a.id: a for a in session.scalars(select(Application).where(Application.id.in_([draft_id, other])))}
        renewal = session.scalar(select(Application).where(Application.renews_id == other))
    assert rows[draft_id].state == "withdrawn" and rows[other].state == "approved"
    assert renewal.state == "submitted" and renewal.due_at > renewal.submitted_at


def test_withdrawing_an_approved_application_ends_its_grants(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    app_id = application_id(apply(developer, CLINIC))
    approve(steward, app_id)
    post_form(developer, f"/access/applications/{app_id}/withdraw", {}, form_page="/access/applications")
    with access_app.app_context(), session_scope(access_app) as session:
        grant = session.scalar(select(Grant).where(Grant.application_id == app_id))
    assert grant.revoked_at is not None


def test_revoking_the_last_grant_revokes_the_application(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    app_id = application_id(apply(developer, CLINIC))
    approve(steward, app_id)
    with access_app.app_context(), session_scope(access_app) as session:
        grant_id = session.scalar(select(Grant.id).where(Grant.application_id == app_id))
    assert developer.email in steward.get("/steward/grants").text
    done = post_form(steward, f"/steward/grants/{grant_id}/revoke", {"reason": "misuse"}, form_page="/steward/grants")
    assert done.status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        assert session.get(Application, app_id).state == "revoked"
    assert "revoked" in steward.get("/steward/grants?status=ended").text


@pytest.mark.parametrize(("datasets", "field"), [((FLIGHTS,), "datasets"), ((), "datasets")])
def test_only_conditional_datasets_can_be_applied_for(as_role, datasets, field):
    response = apply(as_role("developer"), *datasets)
    assert response.status_code in (400, 422)


def test_an_approval_outside_the_data_dictionary_is_refused(as_role):
    developer, steward = as_role("developer"), as_role("steward")
    app_id = application_id(apply(developer, CLINIC))
    for fields in ({f"columns-{CLINIC}": ["no_such_column"]}, {f"version-{CLINIC}": "7"},
                   {f"filter-{CLINIC}": "district like x"}, {f"filter-{CLINIC}": "cost lt plenty"},
                   {f"filter-{CLINIC}": "nowhere eq 1"}, {"expires_on": "2001-01-01"}):
        assert approve(steward, app_id, **fields).status_code == 422, fields


@pytest.mark.parametrize(("path", "form_page"), [
    ("/access/apply", "/access/apply"),
    ("/steward/applications/1/refuse", None),
    ("/steward/grants/1/revoke", None),
    ("/access/applications/1/withdraw", None),
    ("/access/applications/1/renew", None),
])
def test_every_form_needs_its_csrf_token(as_role, path, form_page):
    client = as_role("steward")
    response = client.post(path, data={**FORM, "datasets": [CLINIC], "reason": "x"})
    assert response.status_code == 400
    assert "CSRF" in response.text or "csrf" in response.text.lower()


def test_pages_speak_chinese_and_english(as_role):
    developer = as_role("developer")
    developer.get("/locale/en")
    assert "Apply for conditional access" in developer.get("/access/apply").text
    developer.get("/locale/zh_CN")
    page = developer.get("/access/apply").text
    assert "Apply for conditional access" not in page and "申请" in page


def test_the_csrf_helper_reads_a_token(as_role):
    assert csrf(as_role("developer"), "/access/apply")


def test_application_pages_name_datasets_by_their_title_in_the_pages_language(access_app, as_role):
    developer, steward = as_role("developer"), as_role("steward")
    app_id = application_id(apply(developer, CLINIC))
    with access_app.app_context(), session_scope(access_app) as session:
        from portal.catalog.models import Dataset

        dataset = session.scalar(select(Dataset).where(Dataset.slug == CLINIC))
        title_zh, title_en = dataset.title_zh, dataset.title_en
    assert title_zh != title_en
    pages = ((f"/access/applications/{app_id}", developer), ("/access/applications", developer),
             ("/steward/applications", steward))
    for locale, title in (("zh_CN", title_zh), ("en", title_en)):
        for path, who in pages:
            who.get(f"/locale/{locale}")
            assert f'<span title="{CLINIC}">{title}</span>' in who.get(path).text, (locale, path)


def test_a_steward_sets_the_lifetime_epsilon_and_the_grants_page_shows_it_spent_and_left(access_app, as_role):
    """Decision 0030u: the approval may set the grants' lifetime ε; the grants page shows what the
    account has spent on the dataset since the grant was made and what is left of it."""
    steward, developer = as_role("steward"), as_role("developer")
    app_id = application_id(apply(developer, CLINIC))
    assert approve(steward, app_id, disclosure_mode="dp", lifetime_epsilon="2.5").status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        grant = session.scalars(select(Grant).where(Grant.application_id == app_id)).one()
        assert (grant.lifetime_epsilon, grant.epsilon_before) == (2.5, 0.0)
        session.add(EpsilonAccountTotal(user_id=grant.user_id, dataset_id=grant.dataset_id, epsilon=0.75, queries=7))
        session.commit()
        grant_id = grant.id
    page = steward.get("/steward/grants").text
    row = page[page.index(f">{grant_id}</a>"):]
    assert "0.75 / 1.75" in row[:row.index("</tr>")] and "(共 2.5)" in row[:row.index("</tr>")], "spent, left, of"
    assert "0.75 / 1.75" in developer.get(f"/access/applications/{app_id}").text
    bad = approve(steward, application_id(apply(as_role("developer"), CLINIC)), lifetime_epsilon="-1")
    assert bad.status_code == 422 and "lifetime_epsilon" in bad.text


def test_a_steward_sets_the_daily_epsilon_in_the_approval_form(access_app, as_role):
    """The approval form sets the grants' daily ε (it could only be set with `kaifang grant`); a
    bad value is refused with the field named, and nothing is stored."""
    steward, developer = as_role("steward"), as_role("developer")
    form = steward.get(f"/access/applications/{application_id(apply(developer, CLINIC))}").text
    assert 'name="daily_epsilon"' in form and "每日 ε" in form
    app_id = application_id(apply(developer, CLINIC))
    assert approve(steward, app_id, disclosure_mode="dp", daily_epsilon="0.25").status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        grant = session.scalars(select(Grant).where(Grant.application_id == app_id)).one()
        assert (grant.daily_epsilon, grant.lifetime_epsilon) == (0.25, None)
    refused_id = application_id(apply(developer, CLINIC))
    bad = approve(steward, refused_id, daily_epsilon="0")
    assert bad.status_code == 422 and "daily_epsilon" in bad.text
    with access_app.app_context(), session_scope(access_app) as session:
        assert session.scalars(select(Grant).where(Grant.application_id == refused_id)).first() is None


def test_a_steward_sets_the_lifetime_cells_and_the_grants_page_shows_them_released_and_left(access_app, as_role):
    """Decision 0030w: the approval may set the grants' lifetime cells (statistical mode), counted
    from what the account had released; the grants and application pages show what it released
    since and what is left, and the applications API gives the same figures."""
    steward, developer = as_role("steward"), as_role("developer")
    app_id = application_id(apply(developer, CLINIC))
    with access_app.app_context(), session_scope(access_app) as session:
        user_id = session.scalars(select(Application.user_id).where(Application.id == app_id)).one()
        dataset_id = _clinic_id(session)
        session.add(CellAccountTotal(user_id=user_id, dataset_id=dataset_id, cells=40))  # released before
        session.commit()
    assert approve(steward, app_id, disclosure_mode="sdc", lifetime_cells="900").status_code == 302
    with access_app.app_context(), session_scope(access_app) as session:
        grant = session.scalars(select(Grant).where(Grant.application_id == app_id)).one()
        assert (grant.lifetime_cells, grant.cells_before) == (900, 40)
        session.execute(CellAccountTotal.__table__.update().where(CellAccountTotal.user_id == grant.user_id)
                        .values(cells=340))
        session.commit()
        grant_id = grant.id
    page = steward.get("/steward/grants").text
    row = page[page.index(f">{grant_id}</a>"):]
    assert "300 / 600" in row[:row.index("</tr>")] and "(共 900 个单元格)" in row[:row.index("</tr>")], "released, left, of"
    assert "300 / 600" in developer.get(f"/access/applications/{app_id}").text
    bad = approve(steward, application_id(apply(as_role("developer"), CLINIC)), lifetime_cells="0")
    assert bad.status_code == 422 and "lifetime_cells" in bad.text


def _clinic_id(session) -> int:
    from portal.catalog.models import Dataset

    return session.scalars(select(Dataset.id).where(Dataset.slug == CLINIC)).one()
