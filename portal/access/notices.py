"""Mail about applications: the applicant and the stewards hear of every change of state (the
stewards' mail of a new or renewed application is their cue to review it). Bilingual (Chinese
first), since a mail reaches people whose page language we do not know.

Called by views and API routes after the service committed, with the app's settings; a failing
mail server is logged, never turned into a failed decision (the history has the change).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from portal.access.schemas import Transition
from portal.accounts.mail import send_mail

log = logging.getLogger(__name__)

STATE_ZH = {"draft": "草稿", "submitted": "已提交", "approved": "已批准", "refused": "未批准", "withdrawn": "已撤回",
            "expired": "已过期", "revoked": "已撤销"}


def send_notices(settings: Mapping[str, Any], transition: Transition, *, link: str) -> None:
    """Mail the applicant and every active steward and admin."""
    datasets = ", ".join(transition.datasets)
    state = transition.to_state
    subject = f"申请 #{transition.application_id}：{STATE_ZH[state]} / Application #{transition.application_id}: {state}"
    reason = f"\n原因 / Reason: {transition.reason}\n" if transition.reason else ""
    body = (f"您对 {datasets} 的数据使用申请 #{transition.application_id} 状态变为「{STATE_ZH[state]}」。\n"
            f"Your application #{transition.application_id} for {datasets} is now {state}.\n{reason}\n{link}\n")
    _send(settings, transition.applicant, subject, body)
    body = (f"{transition.applicant} 的申请 #{transition.application_id}（{datasets}）状态变为「{STATE_ZH[state]}」。\n"
            f"Application #{transition.application_id} by {transition.applicant} for {datasets} is now {state}.\n"
            f"{reason}\n{link}\n")
    for steward in transition.stewards:
        _send(settings, steward, subject, body)


def _send(settings: Mapping[str, Any], to: str, subject: str, body: str) -> None:
    if not to:
        return
    try:
        send_mail(settings, to=to, subject=subject, body=body)
    except OSError:
        log.exception("could not send the notice %r to %s", subject, to)
