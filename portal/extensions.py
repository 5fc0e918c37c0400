"""Flask extensions, created unbound and attached in `init_app`: Babel, CSRF, security headers,
the proxy fix and the session cookie's flags (the rate limiter: `portal.api.limits.init_app`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_compress import Compress
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
from werkzeug.datastructures import Headers
from werkzeug.middleware.proxy_fix import ProxyFix

LOCALES = ("zh_CN", "en")



class StaticHeadersTalisman(Talisman):
    """flask-talisman with each view's security headers worked out once, not on every response.

    Talisman rebuilds the same headers for every response (merging the view's options, joining
    the CSP dictionary into its text): ~0.1 ms, a tenth of a cached API call (decision 0021d).
    They depend only on the view and the options given to `init_app`, so they are kept per view
    function and copied; `Strict-Transport-Security` depends on the request (HTTPS or not) and is
    still decided per response, and a CSP nonce (per request; not used here) disables the cache.
    """

    def __init__(self, app: Flask | None = None, **options) -> None:
        self._headers_by_view: dict[object, list[tuple[str, str]]] = {}
        super().__init__(app, **options)

    def init_app(self, app: Flask, **options) -> None:
        self._headers_by_view = {}  # new options (the tests build many apps on this one object)
        super().init_app(app, **options)

    def _set_response_headers(self, response: Response) -> Response:
        view = current_app.view_functions.get(request.endpoint)
        headers = self._headers_by_view.get(view)
        if headers is None:
            options = self._get_local_options()
            if options["content_security_policy_nonce_in"]:
                return super()._set_response_headers(response)
            scratch = Headers()
            self._set_feature_policy_headers(scratch, options)
            self._set_permissions_policy_headers(scratch, options)
            self._set_document_policy_headers(scratch, options)
            self._set_frame_options_headers(scratch, options)
            self._set_content_security_policy_headers(scratch, options)
            self._set_referrer_policy_headers(scratch)
            headers = self._headers_by_view.setdefault(view, list(scratch.items()))
        for name, value in headers:
            response.headers[name] = value
        if self.strict_transport_security:
            self._set_hsts_headers(response.headers)
        return response


class FileRespectingCompress(Compress):
    """Flask-Compress that leaves alone a response marked `Cache-Control: no-transform`: a
    download served from its file (decision 0022a) keeps its `Content-Length` and byte ranges,
    and is never read whole into memory to be compressed (Flask-Compress does that with a
    file the server wraps, such as waitress's file wrapper)."""

    def after_request(self, response: Response | None) -> Response:
        if response is not None and response.cache_control.no_transform:
            return response
        return super().after_request(response)


babel = Babel()
csrf = CSRFProtect()
talisman = StaticHeadersTalisman()
compress = FileRespectingCompress()  # gzip (or br/zstd when asked) of HTML, JSON, CSV and NDJSON responses
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

    def get_signing_serializer(self, app: Flask):
        """Flask's serializer, made once per secret key instead of on every request (it is
        stateless, so threads can share it; ~25 µs a request, decision 0021d)."""
        marker = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = app.extensions.get("kaifang.session_signer")
        if cached is None or cached[0] != marker:
            cached = (marker, super().get_signing_serializer(app))
            app.extensions["kaifang.session_signer"] = cached
        return cached[1]


def select_locale() -> str:
    """The page's language. On the site, the visitor's explicit choice (`/locale/<code>`, kept in
    the session cookie) wins; without one, the browser's Accept-Language (any `zh`: zh-CN, any
    `en`: English), else the configured default (zh_CN). API v1 reads no cookie: there
    Accept-Language alone chooses. Whenever this runs the answer may depend on Accept-Language,
    so the response says `Vary: Accept-Language` (`_vary_on_language`) and a cache keeps one copy
    per language; the ETags, made from the bytes sent, differ per language already."""
    g.locale_negotiated = True
    if not request.path.startswith("/api/v1/"):
        chosen = session.get("locale")
        if chosen in LOCALES:
            return chosen
    asked = request.accept_languages.best_match(("zh-CN", "zh", "en"))
    if asked:
        return "en" if asked == "en" else "zh_CN"
    return current_app.config["DEFAULT_LOCALE"]


def _vary_on_language(response: Response) -> Response:
    if g.get("locale_negotiated"):
        response.vary.add("Accept-Language")
    return response


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(app.root_path) + "/translations")
    app.after_request(_vary_on_language)
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

