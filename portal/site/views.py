"""Home, about and licence pages, and the language switch."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for

from portal.auth import current_actor
from portal.catalog import service
from portal.db import get_session
from portal.extensions import LOCALES

bp = Blueprint("site", __name__)


@bp.get("/")
def home():
    summary = service.home_summary(get_session(), current_actor())
    return render_template("site/home.html", summary=summary)


@bp.get("/about")
def about():
    return render_template("site/about.html")


@bp.get("/licence")
def licence():
    return render_template("site/licence.html")


@bp.get("/locale/<code>")
def set_locale(code: str):
    """Remember the visitor's language and go back where they were (same site only)."""
    if code in LOCALES:
        session["locale"] = code
    target = request.args.get("next") or url_for("site.home")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        target = url_for("site.home")
    return redirect(target)
