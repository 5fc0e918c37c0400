"""Who a page view comes from, as an opaque key that changes every day.

The key is an HMAC of the day, the client address and its user agent under the app's secret:
no address is stored anywhere, and a day's keys cannot be linked to another day's without the
secret. The catalog service turns it into one mark per dataset (service.record_view). This
module reads the request; services never do.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app, request


def visitor_key() -> str:
    """Today's key of the client making this request."""
    day = datetime.now(UTC).date().isoformat()
    who = f"{day}|{request.remote_addr or ''}|{request.headers.get('User-Agent', '')[:300]}"
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, who.encode(), hashlib.sha256).hexdigest()
