"""JSON API v1: the blueprint, its per-response hooks, and the route modules registered on it
(key auth in `portal.accounts.keyauth`, limits in `limits`).

Routes call the same service functions as the HTML views; errors become problem documents via
the app's one handler (every path under /api/ answers JSON). The endpoints are declared with
`spec.endpoint`, which also feeds the OpenAPI document (`openapi.py`).
"""

from __future__ import annotations

from flask import Blueprint

from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")  # rate-limited in limits.init_app
csrf.exempt(bp)

from portal.api import accounts, applications, public_aggregates, sessions  # noqa: E402,F401,I001 - register the routes on bp
from portal.api import catalog, openapi, rows  # noqa: E402,F401 - register the routes on bp
from portal.api.hooks import count_call, finish_response  # noqa: E402

bp.after_request(count_call)
bp.after_app_request(finish_response)
from portal.api import search  # noqa: E402,F401 - the search routes
