"""The signed-in pages fit their screen, in a real headless Chromium (the public pages' check,
tests/browser/citizen.py, covers the pages anyone sees): a developer's notebook with a table and a
chart, and the steward's queue, an application and the grants, do not scroll sideways on a
390 px phone, nor the queue and the grants at 1280 px, where the site header is one row in
English and Chinese; on a phone the header stays short and the SLA column is on screen."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from portal.access import reviews
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests import factories
from tests.browser.conftest import shot
from tests.browser.test_notebook import _granted_developer, _pinned_last_cell, _sign_in

pytestmark = pytest.mark.browser
CLINIC = "clinic-visits-synthetic"
HOUSEHOLD = "household-income-survey-synthetic"
CLINIC_COLUMNS = ("visit_id", "patient_id", "visit_date", "district", "age_band", "sex", "diagnosis_group",
                  "department", "visit_type", "cost", "insurance_type")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The page's width against the window's, and whether the header's children sit on one row.
MEASURE = """() => {
  const row = document.querySelector('.header-row'); const kids = [...row.querySelectorAll(
    '.brand, .main-nav > a, .header-tools > *')].filter(e => e.getBoundingClientRect().height > 0);
  const tops = kids.map(e => Math.round(e.getBoundingClientRect().top));
  return {scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
          header: Math.round(document.querySelector('.site-header').getBoundingClientRect().height),
          rows: new Set(kids.map(e => Math.round(e.getBoundingClientRect().top
                                                 + e.getBoundingClientRect().height / 2) >> 3)).size,
          top: Math.min(...tops) - Math.round(row.getBoundingClientRect().top)};
}"""


def _pending_application(app) -> int:
    """Another developer's application for both datasets, waiting in the queue."""
    email = factories.user(app, "developer")
    with app.app_context(), session_scope(app) as session:
        actor = accounts.authenticate(session, email, factories.PASSWORD)
        draft = ApplicationDraft((CLINIC, HOUSEHOLD), "Compare visit volumes across districts to assess primary care "
                                 "resources, and household incomes by district.", "Tianjin University School of "
                                 "Public Health", 90, "district, diagnosis_group, age_band", "One chart of visits")
        return factories.apply_for(session, actor, draft).application.id


def _wide_grant(app) -> int:
    """A grant whose cells are long: every column listed, a row filter; its application's id."""
    email = factories.user(app, "developer")
    with app.app_context(), session_scope(app) as session:
        actor = accounts.authenticate(session, email, factories.PASSWORD)
        changed = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "layout test", "uni", 30))
        reviews.approve_application(session, SYSTEM, changed.application.id, ApprovalScope(
            (DatasetScope(CLINIC, columns=CLINIC_COLUMNS, row_filter=(
                {"column": "district", "op": "in", "value": ["和平区", "河西区", "南开区", "河东区", "河北区"]},
                {"column": "visit_type", "op": "eq", "value": "outpatient"})),),
            date.today() + timedelta(days=30), 5000))
        return changed.application.id


def _check(page, name: str, problems: dict, *, one_row: bool = False) -> dict:
    page.wait_for_load_state("networkidle")
    m = page.evaluate(MEASURE)
    if m["scroll"] > m["client"]:
        problems[f"{name}: sideways"] = m["scroll"]
    if one_row and (m["rows"] != 1 or m["top"] < 6):
        problems[f"{name}: header rows"] = m
    if not one_row and m["header"] > 110:  # a phone: the header is not a fifth of the screen
        problems[f"{name}: header height"] = m["header"]
    shot(page, f"layout-{name}")
    return m


def test_signed_in_pages_fit_a_phone_and_a_laptop(browser, live_server, bundled_app):
    problems: dict = {}
    pending = _pending_application(bundled_app)
    granted = _wide_grant(bundled_app)
    developer = _granted_developer(bundled_app, mode=None)
    steward = factories.user(bundled_app, "steward")

    # The developer's notebook on a phone: a group-by's table and chart, its footnotes.
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    page = phone.new_page()
    _sign_in(page, live_server, developer)
    page.goto(f"{live_server}/notebook/?dataset={CLINIC}")
    page.locator("#nb-start button[type=submit]").click()
    page.wait_for_url(re.compile(r"/notebook/[A-Za-z0-9_-]+$"))
    page.locator("[data-example='0']").click()
    cell = _pinned_last_cell(page)
    cell.locator(".nb-run").click()
    cell.locator(".nb-chart svg").first.wait_for(timeout=60_000)
    _check(page, "notebook-phone-zh", problems)
    page.goto(f"{live_server}/locale/en?next=" + page.url.replace(live_server, ""))
    page.locator(".nb-chart svg").first.wait_for(timeout=60_000)
    _check(page, "notebook-phone-en", problems)
    # The apply form's identity fields are apart, as the form's other fields.
    page.goto(f"{live_server}/locale/zh_CN?next=/access/apply?dataset={CLINIC}")
    gap = page.evaluate("""() => { const [a, b] = [...document.querySelectorAll('#applicant-identity > label')];
      return b.getBoundingClientRect().top - a.getBoundingClientRect().bottom; }""")
    if gap < 8:
        problems["apply: identity fields' gap"] = gap
    phone.close()

    # The steward at 1280 px, in English then Chinese: one header row, the grants' actions visible.
    desktop = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = desktop.new_page()
    _sign_in(page, live_server, steward)
    for locale in ("en", "zh_CN"):
        page.goto(f"{live_server}/locale/{locale}?next=/steward/applications")
        _check(page, f"queue-1280-{locale}", problems, one_row=True)
        page.goto(f"{live_server}/steward/grants")
        _check(page, f"grants-1280-{locale}", problems, one_row=True)
        table = page.evaluate("() => { const s = document.querySelector('.table-scroll');"
                              " return [s.scrollWidth, s.clientWidth]; }")
        if table[0] > table[1]:
            problems[f"grants-1280-{locale}: table scrolls"] = table
        page.goto(f"{live_server}/access/applications/{pending}")
        _check(page, f"application-1280-{locale}", problems, one_row=True)
    desktop.close()

    # The steward on a phone: queue, an application to decide, one with grants, the grants.
    phone = browser.new_context(viewport=PHONE, is_mobile=True, locale="en-US")
    page = phone.new_page()
    _sign_in(page, live_server, steward)
    for locale in ("en", "zh_CN"):
        page.goto(f"{live_server}/locale/{locale}?next=/steward/applications")
        _check(page, f"queue-phone-{locale}", problems)
        due = page.evaluate("() => [...document.querySelectorAll('table.queue .due')].map(e =>"
                            " e.getBoundingClientRect().right)")
        if not due or max(due) > PHONE["width"]:
            problems[f"queue-phone-{locale}: decision due off screen"] = due
        page.goto(f"{live_server}/access/applications/{pending}")
        _check(page, f"application-phone-{locale}", problems)
        date_input = page.evaluate("() => { const s = getComputedStyle(document.querySelector('input[type=date]'));"
                                   " return [s.borderTopLeftRadius, s.fontFamily === getComputedStyle("
                                   "document.body).fontFamily]; }")
        if date_input != ["6px", True]:
            problems[f"application-phone-{locale}: date input unstyled"] = date_input
        page.goto(f"{live_server}/access/applications/{granted}")
        _check(page, f"application-granted-phone-{locale}", problems)
        page.goto(f"{live_server}/steward/grants")
        _check(page, f"grants-phone-{locale}", problems)
    phone.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
