"""The analysis-session routes for the notebook page: the API's routes under /notebook/api/,
known by the signed-in browser session instead of a key.

Every POST and DELETE needs Flask-WTF's CSRF token in the `X-CSRFToken` header (CSRFProtect
checks it before the route runs, so another site cannot make a signed-in browser run code);
every answer carries a fresh token in that same header for the page's next call. Errors are
problem+json like the API's (`portal.errors.wants_json`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for
from flask_wtf.csrf import generate_csrf

from portal.api import session_routes as routes
from portal.api.session_routes import RunBody, RunQuery, SessionBody
from portal.api.spec import parse_body
from portal.errors import BadRequest

bp = Blueprint("notebook_api", __name__, url_prefix="/notebook/api")
CSRF_HEADER = "X-CSRFToken"


@bp.after_request
def _token(response: Response) -> Response:
    response.headers[CSRF_HEADER] = generate_csrf()
    response.headers["Cache-Control"] = "no-store"
    return response


def _wait() -> float:
    unknown = set(request.args) - {"wait"}
    if unknown:
        raise BadRequest(f"unknown parameter {sorted(unknown)[0][:60]!r}", code="unknown-parameter")
    try:
        return RunQuery.model_validate(dict(request.args)).wait
    except ValueError:
        raise BadRequest("parameter 'wait': a number of seconds from 0 to 30", code="bad-parameter") from None


@bp.get("/sessions")
def sessions():
    return routes.list_sessions()


@bp.post("/sessions")
def create_session():
    return routes.create_session(parse_body(SessionBody), url_for("notebook_api.session", session_id="__id__"))


@bp.get("/sessions/<session_id>")
def session(session_id: str):
    return routes.read_session(session_id)


@bp.delete("/sessions/<session_id>")
def close_session(session_id: str):
    return routes.close_session(session_id)


@bp.post("/sessions/<session_id>/runs")
def create_run(session_id: str):
    return routes.submit_run(session_id, parse_body(RunBody), url_for("notebook_api.run", run_id="__id__"))


@bp.get("/runs/<run_id>")
def run(run_id: str):
    return routes.read_run(run_id, _wait())


@bp.delete("/runs/<run_id>")
def delete_run(run_id: str):
    return routes.delete_run(run_id)
