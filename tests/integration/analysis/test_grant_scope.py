"""A grant's scope is enforced by the broker: a run sees only the granted columns and the rows
inside the row filter, a grant for another version does not apply, and a revoked or expired
grant refuses the very next run."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal.access import reviews
from portal.access.models import Grant
from portal.access.schemas import ApplicationDraft, ApprovalScope, DatasetScope
from portal.accounts import service as accounts
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import SYSTEM
from portal.catalog.models import utcnow
from portal.db import session_scope
from portal.errors import Forbidden
from tests import factories

CLINIC = "clinic-visits-synthetic"


@pytest.fixture
def granted(analysis_app):
    """A new developer, approved for CLINIC with `scope` in the statistical mode (these tests read
    suppressed cells; the scope's columns and rows bind both modes); returns (actor, grant id)."""
    def make(mode="sdc", **scope):
        # the app (and its accounts) outlive one test, and id() of a freed dict is reused
        email = f"scope-{uuid.uuid4().hex}@example.org"
        with analysis_app.app_context(), session_scope(analysis_app) as session:
            accounts.create_user(session, SYSTEM, email=email, password="scope-password-1", role="developer")
            actor = accounts.authenticate(session, email, "scope-password-1")
            steward = SYSTEM
            changed = factories.apply_for(session, actor, ApplicationDraft((CLINIC,), "study", "uni", 30), review_days=2)
            reviews.approve_application(session, steward, changed.application.id, ApprovalScope(
                (DatasetScope(CLINIC, **scope),), date.today() + timedelta(days=30), 5000, disclosure_mode=mode))
            grant_id = session.scalar(select(Grant.id).where(Grant.application_id == changed.application.id))
        return actor, grant_id
    return make


def _run(app, actor, code: str) -> dict:
    settings = AnalysisSettings.from_config({**app.config, "ANALYSIS_ANSWER_QUANTUM_MS": 1})
    with app.app_context(), session_scope(app) as session:
        return submit_run(session, actor, code=code, datasets=[CLINIC], settings=settings).result


def test_a_run_sees_only_the_granted_columns(analysis_app, granted):
    actor, _ = granted(columns=("district", "age_band"))
    schema = _run(analysis_app, actor, f"print(dataset({CLINIC!r}).schema)")
    assert schema["status"] == "ok", schema
    assert "district" in schema["stdout"] and "cost" not in schema["stdout"] and "sex" not in schema["stdout"]
    result = _run(analysis_app, actor, f"""
t = dataset({CLINIC!r}).group_by("sex").agg(count()).collect()
print(t.rows)
""")
    assert result["status"] != "ok" or "sex" not in result.get("stdout", ""), result
    text = str(result)
    assert "sex" in text and ("unknown-column" in text or "no column" in text), result


def test_a_run_sees_only_the_rows_inside_the_filter(analysis_app, granted):
    actor, _ = granted(row_filter=({"column": "district", "op": "eq", "value": "和平区"},))
    result = _run(analysis_app, actor, f"""
t = dataset({CLINIC!r}).group_by("district").agg(count()).collect()
for row in t.rows:
    print(row[0], row[1])
""")
    assert result["status"] == "ok", result
    listed = {line.split()[0]: line.split()[1] for line in result["stdout"].splitlines() if line.strip()}
    # every declared district is a candidate cell, but only 和平区 has records under this grant
    assert listed.get("和平区") not in (None, "None", "0")
    assert all(v in ("None", "0") for d, v in listed.items() if d != "和平区"), listed


def test_an_unscoped_grant_sees_every_district(analysis_app, granted):
    actor, _ = granted()
    result = _run(analysis_app, actor, f"""
t = dataset({CLINIC!r}).group_by("district").agg(count()).collect()
print(sum(1 for row in t.rows if row[1]))
""")
    assert result["status"] == "ok", result
    assert int(result["stdout"].strip()) > 1


def test_a_grant_for_another_version_does_not_apply(analysis_app, granted):
    actor, grant_id = granted(version=1)
    assert _run(analysis_app, actor, "print(1)")["status"] == "ok"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        # as if the publisher had replaced version 1 since: the grant names a version no longer current
        session.execute(update(Grant).where(Grant.id == grant_id).values(version=0))
        session.commit()
    with pytest.raises(Forbidden) as caught:
        _run(analysis_app, actor, "print(1)")
    assert caught.value.code == "no-grant"


@pytest.mark.parametrize("end", ["revoke", "expire"])
def test_a_revoked_or_expired_grant_stops_the_next_run(analysis_app, granted, end):
    actor, grant_id = granted()
    assert _run(analysis_app, actor, f"print(dataset({CLINIC!r}).count())")["status"] == "ok"
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        if end == "revoke":
            reviews.revoke_grant(session, SYSTEM, grant_id, reason="misuse")
        else:
            session.execute(update(Grant).where(Grant.id == grant_id).values(expires_at=utcnow() - timedelta(seconds=1)))
            session.commit()
    with pytest.raises(Forbidden) as caught:
        _run(analysis_app, actor, f"print(dataset({CLINIC!r}).count())")
    assert caught.value.code == "no-grant"


def test_code_is_kept_encrypted_for_stewards(analysis_app, granted):
    from portal.analysis import audit
    from portal.analysis.codes import vault_from_config
    from portal.analysis.models import AnalysisRun

    actor, _ = granted()
    code = "print('秘密 analysis 42')"
    settings = AnalysisSettings.from_config(analysis_app.config)
    with analysis_app.app_context(), session_scope(analysis_app) as session:
        run_id = submit_run(session, actor, code=code, datasets=[], settings=settings).run_id
        stored = session.scalar(select(AnalysisRun.code_encrypted).where(AnalysisRun.run_id == run_id))
        # no fragment of the code in the stored text (a two-character fragment such as "42" turns
        # up in about one Fernet token in thirty by chance: the words checked are long)
        assert stored and "秘密" not in stored and "analysis" not in stored and "print(" not in stored
        shown = audit.get_run_code(session, SYSTEM, run_id, vault=vault_from_config(analysis_app.config))
    assert shown.code == code
    assert (Path(analysis_app.config["INSTANCE_PATH"]) / "audit-code.key").stat().st_mode & 0o077 == 0
