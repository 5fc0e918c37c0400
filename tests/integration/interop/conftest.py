"""A live HTTP server over the bundled catalog, for real clients (ckanapi, frictionless)."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture(autouse=True)
def _fresh_rate_limits(bundled_app):
    """These tests make hundreds of API calls to the shared catalog app from one address: start
    each with empty counts, so none of them (nor a later test on this worker) meets a 429."""
    bundled_app.extensions["kaifang.limiter"].reset()
    yield
    bundled_app.extensions["kaifang.limiter"].reset()


@pytest.fixture(scope="module")
def live_url(bundled_app):
    """The bundled app served on a free port of 127.0.0.1 for the module's tests, then stopped."""
    server = make_server("127.0.0.1", 0, bundled_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
