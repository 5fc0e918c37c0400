"""The analyst's whole journey in one real headless Chromium, as issue 12 item 8 describes it: a
new developer registers and confirms, applies from the conditional dataset's page, a steward
approves in the queue, the developer opens a notebook session from the same page, runs a
group-by with a chart, sees a suppressed cell explained, downloads the sample; and an anonymous
visitor asks the same dataset for a public aggregate and gets a chart. Screenshots of each step
go to tests/artifacts/ (50-…)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from portal.analysis.keys import key_path
from tests import factories
from tests.browser.conftest import shot
from tests.browser.test_access import _mails_to, _sign_in
from tests.integration.analysis.conftest import write_fixed_key

pytestmark = pytest.mark.browser
CLINIC = "clinic-visits-synthetic"
PASSWORD = "journey-password-1"


def _last_cell(page):
    return page.locator(".nb-cell").nth(page.locator(".nb-cell").count() - 1)


def _run_example(page, index: int):
    page.locator(f"[data-example='{index}']").click()
    cell = _last_cell(page)
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+Enter")
    return cell


def test_register_apply_approve_analyse_and_a_public_aggregate(page, browser, live_server, bundled_app):
    if not key_path(Path(bundled_app.config["INSTANCE_PATH"])).exists():
        write_fixed_key(Path(bundled_app.config["INSTANCE_PATH"]))  # what `kaifang init` does
    mail_dir = Path(bundled_app.config["MAIL_DIR"])
    email = f"journey-{uuid.uuid4().hex[:6]}@example.org"

    # Register and confirm by the mailed link.
    page.goto(live_server + "/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.locator("form.stacked button[type=submit]").click()
    link = re.search(r"http://\S+/confirm/\S+", _mails_to(mail_dir, email)[0].get_content()).group(0)
    page.goto(link)
    _sign_in(page, live_server, email, PASSWORD)
    shot(page, "50-journey-registered")

    # Apply from the conditional dataset's page.
    page.goto(f"{live_server}/datasets/{CLINIC}")
    page.locator("#apply a", has_text="提交申请").click()
    page.wait_for_url(re.compile(r"/access/apply\?dataset=" + CLINIC))
    page.fill("textarea[name=purpose]", "比较各区门诊量，评估基层医疗资源配置。")
    page.fill("input[name=organisation]", "天津大学")
    page.fill("textarea[name=fields_wanted]", "district, diagnosis_group, age_band")
    page.fill("textarea[name=intended_outputs]", "各区就诊人次图一张")
    page.fill("input[name=applicant_name]", "李四")  # a real-name application (decision 0031e)
    page.fill("input[name=id_number]", factories.resident_id(32))
    page.locator("#apply-form button[value=submit]").click()
    assert "已提交" in page.content()
    application_id = page.url.rsplit("/", 1)[1]
    shot(page, "51-journey-applied")

    # A steward approves it from the queue (the default scope: the whole dataset), accrediting
    # the analyst for the statistical mode (the dataset declares the ε-budget one: 0030q).
    steward = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(steward, live_server, factories.user(bundled_app, "steward"), factories.PASSWORD)
    steward.goto(live_server + "/steward/applications")
    steward.locator("table.queue a", has_text=application_id).first.click()
    steward.fill("input[name=daily_cell_budget]", "5000")
    assert steward.locator("select[name=disclosure_mode]").input_value() == ""  # each dataset's own by default
    steward.locator("select[name=disclosure_mode]").select_option("sdc")
    shot(steward, "52-journey-steward-approves")
    steward.locator("#approve-form button[type=submit]").click()
    steward.wait_for_url(re.compile(r"/steward/applications$"))
    steward.context.close()

    # The developer opens a session from the dataset page and runs a group-by with a chart.
    page.goto(f"{live_server}/datasets/{CLINIC}")
    page.locator(f"#apply a[href='/notebook/?dataset={CLINIC}']").click()
    page.wait_for_url(re.compile(r"/notebook/\?dataset="))
    page.locator("#nb-start button[type=submit]").click()
    page.wait_for_url(re.compile(r"/notebook/[A-Za-z0-9_-]+$"))
    page.locator(".nb-cell .cm-content").first.wait_for()
    cell = _run_example(page, 0)
    cell.locator(".nb-chart svg").first.wait_for(timeout=90_000)
    assert cell.get_attribute("data-state") == "done"
    assert cell.locator(".nb-table tbody tr").count() > 1
    shot(page, "53-journey-group-by-chart")

    # A finer table: a suppressed cell or group, explained by the rule that applied.
    cell = _run_example(page, 1)
    cell.locator(".nb-table").wait_for(timeout=90_000)
    explained = cell.locator(".nb-missing, td.nb-suppressed").first
    explained.wait_for()
    assert "10" in explained.get_attribute("title")
    assert "10" in cell.locator(".nb-footnotes li").first.inner_text()
    explained.hover()
    shot(page, "54-journey-suppressed-explained")

    # The sample data, to write code against offline.
    with page.expect_download() as sample:
        page.locator("a.nb-sample").click()
    assert sample.value.suggested_filename.endswith("-sample.zip")

    # An anonymous visitor asks the public aggregate of the same dataset: a chart, no application.
    visitor = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    visitor.goto(f"{live_server}/datasets/{CLINIC}")
    form = visitor.locator("form.public-aggregate-form")
    form.locator("select[name=by1]").select_option("district")
    shot(visitor, "55-journey-public-form")
    form.locator("button[type=submit]").click()
    visitor.wait_for_url(re.compile(r"/public-aggregate\?"))
    visitor.locator("#public-chart-view svg").first.wait_for(timeout=60_000)
    assert visitor.locator("#public-answer table.rows tbody tr").count() > 1
    shot(visitor, "56-journey-public-aggregate-chart")
    visitor.context.close()
