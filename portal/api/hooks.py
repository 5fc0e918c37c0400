"""What happens after every API response: the call is counted (in memory, counters.py) and
CORS, ETag and 304 handling are applied (also to errors raised outside a view, e.g. 404s and
429s under /api/, hence an app-wide hook filtered by path)."""

from __future__ import annotations

from flask import Response, request

from portal.api.http import finish
from portal.catalog import service
from portal.db import get_session


def count_call(response: Response) -> Response:
    if response.status_code < 500 and request.method != "OPTIONS":
        service.record_api_call(get_session())
    return response


def finish_response(response: Response) -> Response:
    if request.path.startswith("/api/v1/"):
        return finish(response)
    return response
