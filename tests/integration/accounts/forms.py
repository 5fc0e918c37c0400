"""Driving the account pages like a browser: read the CSRF token of a page, post its form, read mail."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf(client, path: str) -> str:
    page = client.get(path)
    found = TOKEN.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1) or found.group(2)


def post_form(client, path: str, data: dict, *, form_page: str | None = None, **kwargs):
    return client.post(path, data={"csrf_token": csrf(client, form_page or path), **data}, **kwargs)


def mails(app) -> list[Message]:
    folder = Path(app.config["MAIL_DIR"])
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]


def link_in(message: Message) -> str:
    """The path of the first portal link in a mail."""
    body = message.get_content()
    found = re.search(r"http://localhost(/\S+)", body)
    assert found, body
    return found.group(1)
