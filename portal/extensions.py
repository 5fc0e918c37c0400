"""Flask extensions, created unbound and attached in `init_app`: Babel, CSRF, security headers,
the proxy fix and the session cookie's flags (the rate limiter: `portal.api.limits.init_app`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_compress import Compress
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

LOCALES = ("zh_CN", "en")

babel = Babel()
csrf = CSRFProtect()
talisman = Talisman()
compress = Compress()  # gzip (or br/zstd when asked) of HTML, JSON, CSV and NDJSON responses
COMPRESSED = ("text/html", "text/css", "text/csv", "application/json", "application/problem+json",
              "application/x-ndjson", "application/geo+json", "image/svg+xml")

# No inline script or style anywhere (templates use classes and files under /static); data for
# scripts travels in data-* attributes. Vega runs with its CSP-safe expression interpreter.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(tile_url: str) -> dict[str, str]:
    """The CSP, with the origin of the operator's map tiles (MAP_TILE_URL) allowed as images, and
    nothing else added: Leaflet needs no worker, blob or eval."""
    origin = urlsplit(tile_url)
    if not (origin.scheme in ("http", "https") and origin.netloc):
        return CSP
    host = origin.netloc.replace("{s}", "*")  # Leaflet's subdomain placeholder: a.tile…, b.tile…
    return {**CSP, "img-src": f"{CSP['img-src']} {origin.scheme}://{host}"}


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session whose cookie is `Secure` whenever the request came over HTTPS
    (as ProxyFix reports it behind a proxy), so the same settings serve HTTP on a laptop and
    HTTPS in production."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def select_locale() -> str:
    """The visitor's chosen locale (session), else the configured default (zh_CN)."""
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    return current_app.config["DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(app.root_path) + "/translations")
    csrf.init_app(app)
    hops = app.config["PROXY_TRUSTED_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = SessionInterface()
    force_https = app.config["FORCE_HTTPS"]
    talisman.init_app(app, force_https=force_https, strict_transport_security=force_https,
                      session_cookie_secure=False, session_cookie_http_only=True, session_cookie_samesite="Lax",
                      content_security_policy=content_security_policy(app.config["MAP_TILE_URL"]), frame_options="DENY",
                      referrer_policy="strict-origin-when-cross-origin")
    app.config.setdefault("COMPRESS_MIMETYPES", list(COMPRESSED))
    compress.init_app(app)

