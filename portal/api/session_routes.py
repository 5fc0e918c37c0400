"""The request handling both front doors share: the API's key-authenticated routes (`api.py`)
and the notebook's cookie-and-CSRF routes (`browser.py`) parse differently and then call these,
so the two cannot drift. Every answer carries the caller's remaining budget in headers."""

from __future__ import annotations

import time

from flask import Response, current_app
from pydantic import BaseModel, Field

from portal.api.http import json_response
from portal.auth import current_actor
from portal.db import get_session
from portal.errors import N_
from portal.sessions import service
from portal.sessions.queue import queue_for
from portal.sessions.schemas import RunView, SessionView
from portal.sessions.service import localised

MAX_WAIT = 30.0


class SessionBody(BaseModel):
    model_config = {"extra": "forbid"}

    datasets: list[str] = Field(default_factory=list, max_length=10,
                                description="Slugs of the datasets the session's cells may read (open ones, or conditional ones you hold a grant for).")


class RunBody(BaseModel):
    model_config = {"extra": "forbid"}

    code: str = Field(description="Python for the sandbox (docs/sandbox.md); the session's variables from earlier cells are defined.")


class RunQuery(BaseModel):
    model_config = {"extra": "forbid"}

    wait: float = Field(0, ge=0, le=MAX_WAIT, description=N_("Seconds to wait for the run to finish (0–30) before answering."))


def limits() -> service.SessionLimits:
    return service.SessionLimits.from_config(current_app.config)


def budget_headers(response: Response, found: service.Budget | None = None) -> Response:
    """The caller's budget in headers: `found` when the route has just read it, else read now."""
    found = found or service.actor_budget(get_session(), current_actor(), limits())
    if found is not None:
        response.headers["X-Sandbox-Sessions-Open"] = str(found.sessions_open)
        response.headers["X-Sandbox-Sessions-Max"] = str(found.sessions_max)
        response.headers["X-Sandbox-CPU-Seconds-Left"] = f"{found.cpu_seconds_left:g}"
    return response


def list_sessions() -> Response:
    found = service.list_sessions(get_session(), current_actor(), limits())
    return budget_headers(json_response(tuple(localised(s) for s in found), tuple[SessionView, ...]))


def create_session(body: SessionBody, location: str) -> Response:
    found = service.open_session(get_session(), current_actor(), body.datasets, limits())
    response = json_response(found, SessionView)
    response.status_code = 201
    response.headers["Location"] = location.replace("__id__", found.id)
    return budget_headers(response)


def read_session(session_id: str) -> Response:
    return budget_headers(json_response(localised(service.get_session(get_session(), current_actor(), session_id,
                                                                        limits())), SessionView))


def close_session(session_id: str) -> Response:
    service.close_session(get_session(), current_actor(), session_id)
    return budget_headers(_no_content())


def submit_run(session_id: str, body: RunBody, location: str) -> Response:
    queued = service.submit_run(get_session(), current_actor(), session_id, body.code, limits())
    queue_for(current_app._get_current_object()).enqueue(session_id)
    response = json_response(queued.run, RunView)
    response.status_code = 202
    response.headers["Location"] = location.replace("__id__", queued.run.id)
    return budget_headers(response, queued.budget)


def delete_run(run_id: str) -> Response:
    service.delete_run(get_session(), current_actor(), run_id)
    return budget_headers(_no_content())


def _no_content() -> Response:
    """A 204 carries no body, so no Content-Type either (Flask's default would say text/html)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def read_run(run_id: str, wait: float) -> Response:
    db, actor, found = get_session(), current_actor(), limits()
    read = service.read_run(db, actor, run_id, found)
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    queue = queue_for(current_app._get_current_object())
    while read.run.status not in service.FINISHED and (left := deadline - time.monotonic()) > 0:
        queue.wait(run_id, left)
        read = service.read_run(db, actor, run_id, found)
    return budget_headers(json_response(localised(read.run), RunView), read.budget)
