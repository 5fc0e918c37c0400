"""Differencing split over two accounts of one organisation: the attack must fail.

The memory of released cells used to be per user and day, so a colleague's account saw its own,
independent snapped answers: account A asks `count(inpatients)`, account B asks
`count(inpatients and not target)` for many targets, and any answer of B that differs from A's
says the target is an inpatient. Now the memory is shared by every user of the dataset version.
"""

from __future__ import annotations

import json
import uuid

from portal.accounts import service as accounts
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.security.test_disclosure_attacks import target_filter, unique_visits

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]
CLINIC = "clinic-visits-synthetic"


def _colleagues(app, n: int = 2) -> list[str]:
    """Accounts of one (fictional) organisation: same mail domain, separate grants and budgets."""
    org = uuid.uuid4().hex[:8]
    emails = [f"analyst{i}@org-{org}.example.org" for i in range(n)]
    with app.app_context(), session_scope(app) as session:
        for email in emails:
            accounts.create_user(session, SYSTEM, email=email, password="colleague-password", role="developer")
    return emails


def _printed(result: dict):
    assert result["status"] == "ok", result
    return json.loads(result["stdout"].strip().splitlines()[-1])


def test_two_accounts_cannot_difference_one_record(analysis_app, sandbox_run, raw):
    first, second = _colleagues(analysis_app)
    targets = unique_visits(raw, 40, where="visit_type = '住院'")
    for t in targets:
        t.pop("cost")
    base = _printed(sandbox_run("""
        import json
        print(json.dumps(dataset("clinic-visits-synthetic").filter(col("visit_type") == "住院").count()))
    """, CLINIC, user=first))
    without = _printed(sandbox_run(f"""
        import json
        inpatients = dataset("clinic-visits-synthetic").filter(col("visit_type") == "住院")
        print(json.dumps([{", ".join(f"inpatients.filter(~({target_filter(t)})).count()" for t in targets)}]))
    """, CLINIC, user=second))
    # Every target is an inpatient (true difference 1), yet the second account's answers are all
    # the first account's snapped answer: nothing tells the targets apart from non-members.
    assert set(without) == {base}


def test_two_accounts_see_the_same_grouped_answers_for_near_identical_sets(analysis_app, sandbox_run, raw):
    first, second = _colleagues(analysis_app)
    target = unique_visits(raw, 1, where="visit_type = '住院'")[0]
    target.pop("cost")
    whole = _printed(sandbox_run("""
        import json
        t = dataset("clinic-visits-synthetic").filter(col("visit_type") == "住院")
        print(json.dumps(t.group_by("district").agg(count(), mean("cost")).collect().rows))
    """, CLINIC, user=first))
    minus = _printed(sandbox_run(f"""
        import json
        t = dataset("clinic-visits-synthetic").filter((col("visit_type") == "住院") & ~({target_filter(target)}))
        print(json.dumps(t.group_by("district").agg(count(), mean("cost")).collect().rows))
    """, CLINIC, user=second))
    assert minus == whole  # the target's district included: the same counts and means
