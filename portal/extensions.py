"""Flask extensions, created unbound and attached in `init_app`: Babel, CSRF, the rate limiter."""

from __future__ import annotations

from flask import Flask, current_app, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect

LOCALES = ("zh_CN", "en")

babel = Babel()
csrf = CSRFProtect()

# Limits are attached to the API blueprint and to the routes that stream data, not globally:
# pages and static files of a public portal must not 429 a person browsing. Flask-Limiter keeps
# its storage and key prefix on the Limiter object, so each app gets its own (tests build many
# apps in one process; production has one per worker).
LIMITED_BLUEPRINTS = ("api", "ckan")
LIMITED_ENDPOINTS = ("catalog.chart_data", "catalog.download", "catalog.sample")


def select_locale() -> str:
    """The visitor's chosen locale (session), else the configured default (zh_CN)."""
    chosen = session.get("locale")
    if chosen in LOCALES:
        return chosen
    return current_app.config["DEFAULT_LOCALE"]


def anonymous_limit() -> str:
    return current_app.config["RATELIMIT_ANON"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=str(app.root_path) + "/translations")
    csrf.init_app(app)


def init_limits(app: Flask) -> None:
    """Attach rate limits; call after the blueprints are registered."""
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter = Limiter(key_func=get_remote_address, headers_enabled=True)
    limiter.init_app(app)
    for name in LIMITED_BLUEPRINTS:
        limiter.limit(anonymous_limit)(app.blueprints[name])
    for endpoint in LIMITED_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(anonymous_limit)(app.view_functions[endpoint])
    app.extensions["kaifang.limiter"] = limiter
