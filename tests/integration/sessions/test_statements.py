"""What a cell costs the database, counted statement by statement (deterministic; no timing):
the POST reads the person's CPU seconds once and answers its budget headers from that read, and
the queue worker reads the session's pending cells once when it takes the lease and checks only
the CPU seconds before a cell (docs/decisions/0023b). Statements are counted on the calling
thread only, so the embedded queue's own threads are not mixed in."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

from portal.catalog.models import utcnow
from portal.db import database
from portal.sessions.worker import process_session
from tests.integration.sessions.conftest import Analyst, build_app
from tests.integration.sessions.test_worker import _hold, _quiet_queue

CPU_SUM = re.compile(r"sum\(analysis_session_runs\.cpu_seconds\)", re.I)
OPEN_COUNT = re.compile(r"count\(\*\).*FROM analysis_sessions\b", re.I | re.S)
SESSION_READ = re.compile(r"^\s*SELECT analysis_sessions\.id\b", re.I)  # the row, not a count
PENDING = re.compile(r"FROM analysis_session_runs\b.*WHERE analysis_session_runs\.session_id", re.I | re.S)


@contextmanager
def _recorded(app, name: str, entry):
    """What the engine's event `name` saw on the calling thread, one `entry(*args)` each."""
    seen: list = []
    me = threading.get_ident()

    def record(*args):
        if threading.get_ident() == me:
            seen.append(entry(*args))

    engine = database(app).engine
    event.listen(engine, name, record)
    try:
        yield seen
    finally:
        event.remove(engine, name, record)


def statements(app):
    return _recorded(app, "before_cursor_execute", lambda conn, cursor, statement, *rest: statement)


def commits(app):
    return _recorded(app, "commit", lambda conn: 1)


def test_a_cell_reads_the_budget_once_on_post_and_once_in_the_worker(tmp_path):
    app = build_app(tmp_path)
    me = Analyst(app)
    session_id = me.open()
    _quiet_queue(app)  # no embedded worker thread: the test processes the cell itself
    _hold(app, session_id, until=utcnow() + timedelta(minutes=5))
    with statements(app) as posted:
        answer = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "print(1)"})
    assert answer.status_code == 202 and answer.headers["X-Sandbox-CPU-Seconds-Left"]
    assert len([s for s in posted if CPU_SUM.search(s)]) == 1

    _hold(app, session_id, until=utcnow() - timedelta(seconds=1))
    with statements(app) as worked:
        assert process_session(app, session_id, lambda run_id: None) == 1
    before_cell = worked[:next(i for i, s in enumerate(worked) if s.lstrip().upper().startswith("INSERT INTO ANALYSIS_RUNS"))]
    assert len([s for s in before_cell if CPU_SUM.search(s)]) == 1
    assert not [s for s in before_cell if OPEN_COUNT.search(s)]  # the worker checks CPU seconds only
    assert len([s for s in before_cell if PENDING.search(s)]) == 1  # stale and queued cells in one read
    assert me.get(f"/api/v1/runs/{answer.json['id']}").json["result"]["stdout"] == "1\n"


def test_a_cell_is_queued_in_one_transaction_its_lease_reads_its_session_and_its_answer_is_one_read(tmp_path):
    """Decision 0030r: the POST reads the session once, under the session's hold, and commits
    once; the worker reads the session in the statement that leases it; a GET reads the run and
    the person's budget in one statement."""
    app = build_app(tmp_path)
    me = Analyst(app)
    session_id = me.open()
    _quiet_queue(app)
    _hold(app, session_id, until=utcnow() + timedelta(minutes=5))
    with statements(app) as posted, commits(app) as committed:
        answer = me.post(f"/api/v1/sessions/{session_id}/runs", {"code": "print(1)"})
    assert answer.status_code == 202
    assert len([s for s in posted if SESSION_READ.search(s)]) == 1 and len(committed) == 1

    _hold(app, session_id, until=utcnow() - timedelta(seconds=1))
    with statements(app) as worked:
        assert process_session(app, session_id, lambda run_id: None) == 1
    assert not [s for s in worked if SESSION_READ.search(s)]
    assert worked[0].lstrip().upper().startswith("UPDATE ANALYSIS_SESSIONS") and "RETURNING" in worked[0].upper()

    with statements(app) as read:
        found = me.get(f"/api/v1/runs/{answer.json['id']}?wait=5")
    assert found.json["result"]["stdout"] == "1\n" and found.headers["X-Sandbox-CPU-Seconds-Left"]
    assert len(read) == 1


def test_the_grant_check_of_a_run_reads_a_dataset_its_version_and_fields_in_two_statements(tmp_path):
    """Each run re-reads its grant (a revoked one stops the next cell); the dataset comes with
    its current version in the same statement, then its fields, then the grant: three in all."""
    from portal.access.service import usable_datasets
    from portal.accounts.service import actor_for, user_by_email
    from portal.db import session_scope
    from tests.integration.sessions.conftest import CLINIC, grant

    app = build_app(tmp_path)
    me = Analyst(app)
    grant(app, me.email)
    with session_scope(app) as db:
        actor = actor_for(db, user_by_email(db, me.email).id)
        with statements(app) as read:
            (usable,) = usable_datasets(db, actor, [CLINIC])
    assert usable.grant_id is not None and usable.dataset.current_version is not None and usable.dataset.fields
    assert len(read) == 3
