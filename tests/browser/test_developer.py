"""A developer's first hour in a real headless Chromium: register, confirm from the mail, sign in,
make a key, call the API with it, see the usage chart; and no page breaks its CSP."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser


def _mail_to(folder: Path, email: str):
    for path in folder.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == email:
            return message
    raise AssertionError(f"no mail to {email}")


def test_register_confirm_make_key_and_see_usage(page, live_server, bundled_app):
    violations = []
    page.on("console", lambda m: violations.append((page.url, m.text)) if "Content Security Policy" in m.text else None)
    email = f"dev-{uuid.uuid4().hex[:6]}@example.org"
    page.goto(live_server + "/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.fill("input[name=confirm]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    assert "请查收邮件" in page.locator("h1").inner_text()

    mail = _mail_to(Path(bundled_app.config["MAIL_DIR"]), email)
    link = re.search(r"http://\S+/confirm/\S+", mail.get_content()).group(0)
    page.goto(link)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    page.goto(live_server + "/account")
    assert "已确认" in page.content()

    page.fill("input[name=name]", "my first app")
    page.locator("form.stacked button[type=submit]", has_text="创建密钥").click()
    key = page.locator("#new-key code").first.inner_text()
    assert re.fullmatch(r"kf_[0-9a-f]{10}_\S+", key)
    shot(page, "20-new-key")

    for _ in range(3):
        answer = page.request.get(live_server + "/api/v1/datasets", headers={"Authorization": f"Bearer {key}"})
        assert answer.status == 200 and "RateLimit-Policy".lower() in answer.headers
    page.goto(live_server + "/account/usage")
    page.wait_for_selector("#usage-chart svg", timeout=20_000)
    assert "my first app" in page.locator("table").inner_text()
    shot(page, "21-usage")

    page.goto(live_server + "/datasets/nyc-flights-2013")
    page.wait_for_selector("#chart-view svg", timeout=20_000)
    page.goto(live_server + "/datasets")
    page.select_option("select[name=sort]", "title")
    page.wait_for_url(re.compile(r"sort=title"))
    assert violations == []
