"""Domain errors and the one handler that turns any error into an HTML page or a JSON problem.

Services raise `PortalError` subclasses and never know about HTTP rendering; views never catch
them. The handler is registered on the app (not a blueprint) so routing errors, Flask-Limiter's
429 and CSRF failures get the same treatment. A 500 logs the traceback and shows only an id.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the error classes are raised by services that commands run without the web
    from flask import Flask, Response
    from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_PATH = "/developers/problems/"  # each problem `type` is a page of this portal documenting it


def _(text: str, **variables: Any) -> str:
    """flask_babel's gettext, imported when an error is first rendered: a command that only
    raises these errors (`kaifang sandbox-run`) does not load Babel."""
    from flask_babel import gettext  # noqa: PLC0415

    return gettext(text, **variables)


def N_(text: str) -> str:
    """Marks a string for translation where it is defined; it is translated where it is shown."""
    return text


class PortalError(Exception):
    status = 500
    code = "error"
    title = N_("Error")

    def __init__(self, detail: str = "", *, code: str | None = None, errors: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None, type_url: str | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.errors = errors
        self.headers = headers or {}
        self.type_url = type_url


class BadRequest(PortalError):
    status, code, title = 400, "bad-request", N_("Bad request")


class Unauthorized(PortalError):
    status, code, title = 401, "unauthorized", N_("Sign-in required")


class Forbidden(PortalError):
    status, code, title = 403, "forbidden", N_("Forbidden")


class NotFound(PortalError):
    status, code, title = 404, "not-found", N_("Not found")

    def __init__(self, kind: str, key: str):
        # the code is a path segment of its `type` page: "data of dataset" -> `data-of-dataset-not-found`
        super().__init__(f"no {kind} named {key!r}", code=f"{kind.replace(' ', '-')}-not-found")
        self.kind, self.key = kind, key


class Conflict(PortalError):
    status, code, title = 409, "conflict", N_("Conflict")


class Gone(PortalError):
    status, code, title = 410, "gone", N_("Gone")


class TooLarge(PortalError):
    status, code, title = 413, "too-large", N_("Too large")


class Invalid(PortalError):
    status, code, title = 422, "invalid", N_("Invalid input")


def wants_json() -> bool:
    from flask import request  # noqa: PLC0415 - rendering is the web's; raising is everybody's

    if request.path.startswith(("/api/", "/notebook/api/")) or request.path.endswith(".json"):
        return True  # a .json address (chart values, map points, metadata) never answers HTML
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "application/problem+json"])
    return best in {"application/json", "application/problem+json"}


def problem(status: int, code: str, title: str, detail: str, *, errors: dict | None = None,
            type_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_url or problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_type(code: str) -> str:
    """The URL documenting problems with this code (stable per code; served by portal/api/docs.py)."""
    from flask import request  # noqa: PLC0415

    return request.host_url.rstrip("/") + PROBLEM_PATH + code


# What a person reading an HTML error page is told in their language; the `detail` (English,
# precise, also in the JSON problem) follows it as the technical reason.
HINTS = {
    "bad-parameter": N_("A parameter in the address is not valid: page numbers and sizes are whole numbers from 1."),
    "unknown-column": N_("The address names a column this dataset does not have."),
    "unknown-operator": N_("The address uses a filter this portal does not know."),
    "invalid-value": N_("A filter value does not fit its column (for example text where a number is expected)."),
    "rows-not-open": N_("This dataset is not open for download. See its page for how to apply for access."),
    "rate-limited": N_("Too many requests; please wait and try again."),
    "bad-token": N_("This link is not valid, or it was used already. Ask for a new one."),
    "token-expired": N_("This link has expired. Ask for a new one."),
    "forbidden": N_("You may not do this."),
    "unknown-parameter": N_("The address has a parameter this page does not take."),
    "invalid-limit": N_("The page size asked for is larger than this portal allows."),
    "invalid-cursor": N_("This page link is no longer valid. Start again from the first page."),
}


def _render(status: int, code: str, title: str, detail: str, *, errors=None, headers=None,
            type_url=None, technical: bool = False) -> Response:
    """`technical`: the detail is the precise English reason, shown on pages under a hint in the
    page's language (and marked as English), not as the page's message."""
    from flask import Response, jsonify, render_template  # noqa: PLC0415

    if wants_json():
        # The title in the language of the detail: translated with a translated detail, English
        # beside a service's precise English one (never one of each, as before).
        shown = str(title) if technical else _(title)
        response = jsonify(problem(status, code, shown, detail, errors=errors, type_url=type_url))
        response.mimetype = "application/problem+json"
    else:
        hint = _(HINTS[code]) if code in HINTS else None
        if technical and hint is None:
            hint = _(_HTTP.get(status, (None, None, N_("The request could not be completed.")))[2])
        html = render_template("errors/error.html", status=status, code=code, title=_(title),
                               detail=detail, errors=errors, hint=hint, technical=technical and bool(hint))
        response = Response(html, status=status, mimetype="text/html")
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_portal_error(error: PortalError) -> Response:
    detail, technical = error.detail, True
    if isinstance(error, NotFound) and not wants_json():
        detail, technical = _("Nothing called “%(key)s” was found.", key=error.key), False
    return _render(error.status, error.code, error.title, detail, errors=error.errors,
                   headers=error.headers, type_url=error.type_url, technical=technical)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code, title, generic = _HTTP.get(status, ("http-error", error.name, None))
    headers = {}
    if status == 429:
        retry = error.get_headers()
        headers = {k: v for k, v in retry if k.lower() in {"retry-after", "x-ratelimit-limit",
                                                            "x-ratelimit-remaining", "x-ratelimit-reset"}}
        headers.setdefault("Retry-After", "60")
    elif status == 405:  # RFC 9110: a 405 names the methods the resource takes
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    detail = error.description if status in (400, 429) and error.description else (generic or error.name)
    return _render(status, code, title, _(detail) if detail == generic else detail, headers=headers,
                   technical=detail != generic)


def handle_unexpected(error: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.exception("unhandled error, incident %s", incident, exc_info=error)
    return _render(500, "internal-error", N_("Internal error"),
                   _("Something went wrong on our side. Incident id: %(id)s", id=incident))


_HTTP = {
    400: ("bad-request", N_("Bad request"), N_("The request could not be understood.")),
    401: ("unauthorized", N_("Sign-in required"), N_("Please sign in first.")),
    403: ("forbidden", N_("Forbidden"), N_("You may not do this.")),
    404: ("not-found", N_("Not found"), N_("There is no page at this address.")),
    405: ("method-not-allowed", N_("Method not allowed"), N_("This address does not accept that method.")),
    413: ("too-large", N_("Too large"), N_("The request is too large.")),
    429: ("rate-limited", N_("Too many requests"), N_("Too many requests; please wait and try again.")),
}


def init_app(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException  # noqa: PLC0415

    app.register_error_handler(PortalError, handle_portal_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    if not app.debug:
        app.register_error_handler(Exception, handle_unexpected)
