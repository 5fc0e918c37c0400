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
# Limits are attached per blueprint (the API, downloads), not globally: pages and static files
# of a public portal must not 429 a person browsing.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


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
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    limiter.init_app(app)
