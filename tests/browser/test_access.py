"""Conditional access in a real headless Chromium: a developer registers and applies for a
conditional dataset from its page, a steward approves with a scope, the developer sees the grant."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from portal.analysis.keys import key_path
from tests import factories
from tests.browser.conftest import CHROMIUM_ARGS, shot  # noqa: F401 - the same browser settings
from tests.integration.analysis.conftest import write_fixed_key

pytestmark = pytest.mark.browser
CLINIC = "clinic-visits-synthetic"


def _mails_to(folder: Path, email: str) -> list:
    found = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")]
    return [m for m in found if m["To"] == email]


def _sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("form.stacked button[type=submit]").click()


def test_register_apply_approve_and_see_the_grant(page, browser, live_server, bundled_app):
    if not key_path(Path(bundled_app.config["INSTANCE_PATH"])).exists():
        # what `kaifang init` does: applicants' identities are kept under it (decision 0031e)
        write_fixed_key(Path(bundled_app.config["INSTANCE_PATH"]))
    mail_dir = Path(bundled_app.config["MAIL_DIR"])
    email = f"applicant-{uuid.uuid4().hex[:6]}@example.org"
    page.goto(live_server + "/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.fill("input[name=confirm]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    link = re.search(r"http://\S+/confirm/\S+", _mails_to(mail_dir, email)[0].get_content()).group(0)
    page.goto(link)
    _sign_in(page, live_server, email, "browser-password-1")

    # The conditional dataset's page links straight to the form, the dataset ticked.
    page.goto(f"{live_server}/datasets/{CLINIC}")
    page.locator("#apply a", has_text="提交申请").click()
    page.wait_for_url(re.compile(r"/access/apply\?dataset=" + CLINIC))
    assert page.locator(f"input[name=datasets][value={CLINIC}]").is_checked()
    page.fill("textarea[name=purpose]", "研究各区门诊费用差异，为医保政策评估提供依据。")
    page.fill("input[name=organisation]", "南开大学公共卫生学院")
    page.fill("textarea[name=fields_wanted]", "district, age_band, cost")
    page.fill("textarea[name=intended_outputs]", "各区平均费用表一张")
    page.fill("input[name=duration_days]", "60")
    page.fill("input[name=applicant_name]", "李四")  # a real-name application (decision 0031e)
    page.fill("input[name=id_number]", factories.resident_id(31))
    shot(page, "30-apply-form")
    page.locator("#apply-form button[value=submit]").click()
    assert "已提交" in page.content()
    application_url = page.url
    shot(page, "31-application-submitted")

    # A steward signs in elsewhere, finds it in the queue and approves with a scope.
    steward_email = factories.user(bundled_app, "steward")
    steward = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(steward, live_server, steward_email, factories.PASSWORD)
    steward.goto(live_server + "/steward/applications")
    assert email in steward.locator("table.queue").inner_text()
    shot(steward, "32-steward-queue")
    steward.locator("table.queue a", has_text=application_url.rsplit("/", 1)[1]).first.click()
    scope = steward.locator(f"fieldset.scope[data-dataset={CLINIC}]")
    for column in ("visit_id", "patient_id", "sex"):
        scope.locator(f"input[name=columns-{CLINIC}][value={column}]").uncheck()
    scope.locator(f"textarea[name=filter-{CLINIC}]").fill("district in 和平区, 河西区")
    steward.fill("input[name=daily_cell_budget]", "1500")
    steward.fill("textarea[name=note]", "仅限区级汇总")
    shot(steward, "33-steward-approve-scope")
    steward.locator("#approve-form button[type=submit]").click()
    steward.wait_for_url(re.compile(r"/steward/applications$"))
    steward.goto(live_server + "/steward/grants")
    assert email in steward.locator("table.grants").inner_text()
    shot(steward, "34-steward-grants")
    steward.context.close()

    # The developer sees the approval and the grant with its scope, and was mailed.
    page.goto(live_server + "/access/applications")
    text = page.locator("table.applications").inner_text()
    assert "已批准" in text and "2023年门急诊及住院就诊记录" in text and "有效" in text  # titles, not slugs
    page.goto(application_url)
    grant = page.locator("table.grants").inner_text()
    assert "district, age_band" in grant and "cost" in grant and "sex" not in grant
    assert "district in 和平区, 河西区" in grant and "1500" in grant
    shot(page, "35-developer-sees-grant")
    assert any("approved" in m["Subject"] for m in _mails_to(mail_dir, email))

    page.goto(live_server + "/locale/en?next=/access/applications")
    assert "My applications" in page.locator("h1").inner_text()
    shot(page, "36-developer-applications-en")
