"""Outgoing mail: one `send_mail` call, two backends chosen by MAIL_BACKEND.

- `file` (embedded defaults): each message is written as an RFC 5322 `.eml` file into MAIL_DIR,
  so a developer (or a test) opens the confirmation link without a mail server.
- `smtp` (production): sent through MAIL_SMTP_HOST, with STARTTLS and login when configured.

It takes the settings mapping rather than reading Flask's config, so the CLI and jobs can send too.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any


def build_message(settings: Mapping[str, Any], *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="kaifang.invalid")
    message.set_content(body)
    return message


def send_mail(settings: Mapping[str, Any], *, to: str, subject: str, body: str) -> None:
    """Send one plain-text mail with the configured backend."""
    message = build_message(settings, to=to, subject=subject, body=body)
    if settings["MAIL_BACKEND"] == "smtp":
        _send_smtp(settings, message)
    else:
        _write_file(Path(settings["MAIL_DIR"]), message)


def _write_file(folder: Path, message: EmailMessage) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.eml"
    path.write_bytes(message.as_bytes())
    return path


def _send_smtp(settings: Mapping[str, Any], message: EmailMessage) -> None:
    with smtplib.SMTP(settings["MAIL_SMTP_HOST"], settings["MAIL_SMTP_PORT"], timeout=20) as smtp:
        if settings["MAIL_SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if settings["MAIL_SMTP_USERNAME"]:
            smtp.login(settings["MAIL_SMTP_USERNAME"], settings["MAIL_SMTP_PASSWORD"])
        smtp.send_message(message)
