"""JSON API v1: shared plumbing (blueprint, limits, serialisation) and the catalog's JSON routes.

Routes call the same service functions as the HTML views; errors become problem documents via
the app's one handler (every path under /api/ answers JSON).
"""

from __future__ import annotations

from flask import Blueprint

from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")  # rate-limited in extensions.init_limits
csrf.exempt(bp)

from portal.api import catalog  # noqa: E402,F401 - registers the routes on bp
from portal.search import api as _search_api  # noqa: E402,F401 - the search routes
