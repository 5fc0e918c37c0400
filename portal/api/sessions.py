"""Analysis sessions on API v1, for a key with the `sandbox:run` scope (docs/sessions.md).

Every route needs a key (401 without one): a session belongs to a person, and only to them —
another person's session or run is a 404 whatever their role. The session cookie is never
read here (`portal.auth`); the notebook page has the same routes under /notebook/api/.
"""

from __future__ import annotations

from flask import url_for

from portal.api import session_routes as routes
from portal.api.schemas import NoQuery
from portal.api.session_routes import RunBody, RunQuery, SessionBody
from portal.api.spec import endpoint
from portal.sessions.schemas import RunView, SessionView

SCOPE = "sandbox:run"


@endpoint("/sessions", tag="sessions", scope=SCOPE, auth="key", query=NoQuery, response=tuple[SessionView, ...])
def analysis_sessions(params: NoQuery):
    """Your analysis sessions, newest first (closed and expired ones too, with their cells)."""
    return routes.list_sessions()


@endpoint("/sessions", tag="sessions", scope=SCOPE, auth="key", method="post", body=SessionBody,
          response=SessionView, status=201)
def create_analysis_session(body: SessionBody):
    """Open an analysis session on some datasets.

    Cells run one after another and each sees the variables the earlier ones left (lazy tables and
    dates included). A session expires after SESSION_IDLE_MINUTES without a run; at most
    SESSION_MAX_CONCURRENT may be open (409 `too-many-sessions`). `budget` says what is left today.
    """
    return routes.create_session(body, url_for("api.analysis_session", session_id="__id__"))


@endpoint("/sessions/<session_id>", tag="sessions", scope=SCOPE, auth="key", query=NoQuery, response=SessionView)
def analysis_session(session_id: str, params: NoQuery):
    """One of your sessions, with its cells in order and your remaining budget."""
    return routes.read_session(session_id)


@endpoint("/sessions/<session_id>", tag="sessions", scope=SCOPE, auth="key", method="delete", response=None,
          media=(), status=204)
def close_analysis_session(session_id: str):
    """Close a session: no more cells run in it, its variables are dropped; its cells stay readable."""
    return routes.close_session(session_id)


@endpoint("/sessions/<session_id>/runs", tag="sessions", scope=SCOPE, auth="key", method="post", body=RunBody,
          response=RunView, status=202,
          errors={"413": "The cell's code is over SESSION_MAX_CODE_BYTES bytes of UTF-8 (`code-too-large`), "
                         "or the body over MAX_CONTENT_LENGTH (`too-large`)."})
def create_session_run(session_id: str, body: RunBody):
    """Queue a cell of code in a session; 202 with the run (`Location` is where to read it).

    Code over SESSION_MAX_CODE_BYTES is a 413 (`code-too-large`); an expired session a 404
    (`session-expired`); no CPU seconds left today a 429 (`cpu-budget-exhausted`).
    """
    return routes.submit_run(session_id, body, url_for("api.session_run", run_id="__id__"))


@endpoint("/runs/<run_id>", tag="sessions", scope=SCOPE, auth="key", query=RunQuery, response=RunView)
def session_run(run_id: str, params: RunQuery):
    """One of your runs; with `wait=SECONDS` (up to 30) the answer waits until it is done.

    `status` is queued, running, done (the sandbox answered: `result` is its answer, `result.status`
    ok, error, refused, timeout or killed) or error (it could not run: `result.code` says why, e.g.
    `no-grant` after a grant was revoked). `audit_run_id` names the stewards' audit record.
    """
    return routes.read_run(run_id, params.wait)


@endpoint("/runs/<run_id>", tag="sessions", scope=SCOPE, auth="key", method="delete", response=None, media=(),
          status=204)
def delete_session_run(run_id: str):
    """Delete a finished cell from its session (the notebook, the session, the `.py` export).

    The session's variables are not rolled back, and the run stays readable by id (with
    `deleted_at`) and in the stewards' audit. A cell still queued or running is a 409 (`run-pending`).
    """
    return routes.delete_run(run_id)
