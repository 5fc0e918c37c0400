"""CKAN-compatible Action API: `/api/3/action/<name>` and `/api/action/<name>`, GET or POST.

One dispatcher reads the action's parameters (query string on GET; a JSON object, or a form, on
POST), calls the action and wraps the answer in CKAN's envelope `{help, success, result}`. Errors
keep CKAN's statuses and `__type`s (ckanapi turns them back into exceptions): 404 Not Found
Error, 403 Authorization Error, 409 Validation Error, 400 Search Query Error or Bad Request.
Keys come as on /api/v1 or as CKAN's clients send them (`X-CKAN-API-Key`, a bare
`Authorization: <key>`, see `keys.presented_key`); a bad, revoked or expired key is CKAN's 403
Authorization Error in the envelope, where /api/v1 answers a 401 problem.
The blueprint's error handler gives the same envelope to rate-limit (429) and size (413) errors;
routing errors (404, 405) come before the blueprint is known and stay problem+json like `/api/`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException

from portal.accounts import keyauth as keys
from portal.api.ckan_actions import ACTIONS, Env
from portal.auth import current_actor
from portal.catalog import service
from portal.db import get_session
from portal.errors import PortalError
from portal.extensions import csrf
from portal.interop.links import Catalog, Links

log = logging.getLogger(__name__)

bp = Blueprint("ckan", __name__, url_prefix="/api")  # rate-limited in limits.init_app
csrf.exempt(bp)  # no cookie-authenticated writes: every action here only reads

ERROR_TYPES = {403: "Authorization Error", 401: "Authorization Error", 404: "Not Found Error",
               409: "Validation Error"}


@bp.after_request
def _count_call(response: Response) -> Response:
    if response.status_code < 500:
        service.record_api_call(get_session())
    # Any web page may read: callers authenticate by key, never by cookie, so nothing is forged.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/3")
def api_version():
    """The API version, as CKAN's `/api/3` answers."""
    return jsonify({"version": 3})


@bp.route("/3/action/<name>", methods=["GET", "POST"])
@bp.route("/action/<name>", methods=["GET", "POST"], endpoint="action_unversioned")
def action(name: str):
    """Call one CKAN action and answer in CKAN's envelope."""
    envelope: dict[str, Any] = {"help": url_for("ckan.action", name="help_show", _external=True)
                                + "?" + urlencode({"name": name})}
    function = ACTIONS.get(name)
    if function is None:
        return _failure(envelope, 400, {"__type": "Bad Request", "message": f"Bad request - Action name not known: {name}"})
    data = _request_data()
    if isinstance(data, str):
        return _failure(envelope, 400, {"__type": "Bad Request", "message": f"Bad request - JSON Error: {data}"})
    try:
        # A key must carry the scope its /api/v1 twin needs (anonymous callers pass).
        keys.check_scope("rows:read" if name.startswith("datastore_") else "catalog:read")
        result = function(get_session(), current_actor(), data, _env())
    except PortalError as error:
        return _failure(envelope, *_error_body(error))
    return jsonify({**envelope, "success": True, "result": result})


@bp.errorhandler(keys.InvalidKey)
def _invalid_key(error: keys.InvalidKey):
    """A bad, revoked or expired key: CKAN answers 403 Authorization Error, not /api/v1's 401."""
    return _failure({"help": url_for("ckan.action", name="help_show", _external=True)}, 403,
                    {"__type": "Authorization Error", "message": f"Access denied: {error.detail}"})


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """Method, size and rate-limit errors of this blueprint, in the envelope, keeping their headers."""
    status = error.code or 500
    kind = "Authorization Error" if status in (401, 403) else error.name
    response = _failure({"help": url_for("ckan.action", name="help_show", _external=True)}, status,
                        {"__type": kind, "message": error.description or error.name})
    for key, value in error.get_headers():
        if key.lower() in ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            response.headers[key] = value
    if status == 429:
        response.headers.setdefault("Retry-After", "60")
    return response


def _request_data() -> dict[str, Any] | str:
    """The parameters, or the reason they cannot be read. Repeated query keys become lists."""
    if request.method == "GET":
        return {k: v[0] if len(v) == 1 else v for k, v in request.args.to_dict(flat=False).items()}
    if request.form:
        return {k: v[0] if len(v) == 1 else v for k, v in request.form.to_dict(flat=False).items()}
    if not request.get_data(cache=True):
        return {}
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    return body


def _env() -> Env:
    config = current_app.config
    return Env(
        links=Links(lambda endpoint, **values: url_for(endpoint, _external=True, **values)),
        catalog=Catalog(config["CATALOG_TITLE"], config["CATALOG_PUBLISHER"], config["CATALOG_CONTACT_EMAIL"]),
        data_dir=Path(config["DATA_DIR"]),
        action_path=lambda name, args: url_for("ckan.action", name=name) + "?" + urlencode(args),
    )


def _error_body(error: PortalError) -> tuple[int, dict[str, Any]]:
    if error.code == "search-query-error":
        return 400, {"__type": "Search Query Error", "message": error.detail}
    if error.status in (400, 422):
        fields = error.errors or {"message": [error.detail]}
        return 409, {"__type": "Validation Error", **fields}
    if error.status in ERROR_TYPES:
        prefix = "Access denied" if error.status in (401, 403) else "Not found"
        return error.status, {"__type": ERROR_TYPES[error.status], "message": f"{prefix}: {error.detail}"}
    return error.status, {"__type": error.title, "message": error.detail}


def _failure(envelope: dict[str, Any], status: int, error: dict[str, Any]) -> Response:
    response = jsonify({**envelope, "success": False, "error": error})
    response.status_code = status
    return response
