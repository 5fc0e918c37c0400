"""Home, about and licence pages, the language switch, and what crawlers and feed readers
fetch: Atom feeds, the sitemap and robots.txt (builders in feeds.py)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from portal.auth import ANONYMOUS, current_actor
from portal.catalog import service
from portal.db import get_session
from portal.extensions import LOCALES
from portal.filters import is_zh, localized
from portal.site import feeds

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


FEED_LENGTH = 50
XML_CACHE = "public, max-age=300"
# Not for crawlers: every URL variant of these is heavy, and none is a page people search for.
NOT_CRAWLED = ("/api/", "/datasets/*/download/", "/datasets/*/chart.json", "/datasets/*/chart.csv", "/datasets/*/points.json", "/datasets/*/sample.zip",
               "/account", "/audit/", "/locale/")


def _absolute(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _xml(body: bytes, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = XML_CACHE
    response.add_etag()
    return response.make_conditional(request)


def _feed(title: str, page_url: str, theme: str | None = None, department: str | None = None) -> Response:
    """Feeds are built for the anonymous public whoever asks: a feed reader's copy never holds a draft."""
    datasets = service.recent_datasets(get_session(), ANONYMOUS, theme=theme, department=department,
                                       limit=FEED_LENGTH)
    info = feeds.FeedInfo(self_url=request.base_url, page_url=page_url, title=title,
                          # the default publisher has a Chinese name; an operator's own stays as set
                          author=_(current_app.config["CATALOG_PUBLISHER"]), lang="zh" if is_zh() else "en")
    return _xml(feeds.atom(info, datasets, _absolute), "application/atom+xml")


@bp.get("/feeds/datasets.atom")
def feed_all():
    return _feed(_("New and updated datasets · %(site)s", site=_("Kaifang Open Data")),
                 _absolute("catalog.dataset_list"))


@bp.get("/feeds/themes/<code>.atom")
def feed_theme(code: str):
    theme = service.get_theme(get_session(), ANONYMOUS, code)
    return _feed(_("New and updated datasets · %(site)s", site=localized(theme, "name")),
                 _absolute("catalog.theme_page", code=code), theme=code)


@bp.get("/feeds/departments/<slug>.atom")
def feed_department(slug: str):
    department = service.get_department(get_session(), ANONYMOUS, slug)
    return _feed(_("New and updated datasets · %(site)s", site=localized(department, "name")),
                 _absolute("catalog.department_page", slug=slug), department=slug)


@bp.get("/sitemap.xml")
def sitemap():
    """Every page the public can reach by browsing: home, lists, the themes index, the API
    reference, each visible dataset, theme and department page, with the last time a dataset on it changed."""
    session = get_session()
    datasets = service.recent_datasets(session, ANONYMOUS)
    newest: dict[tuple[str, str], datetime] = {}
    for d in datasets:
        for key in (("theme", d.theme.key), ("department", d.department.key)):
            newest.setdefault(key, d.updated_at)  # newest first, so the first seen is the latest
    latest = datasets[0].updated_at if datasets else None
    entries = [(_absolute("site.home"), latest), (_absolute("catalog.dataset_list"), latest),
               (_absolute("catalog.theme_index"), latest), (_absolute("site.about"), None),
               (_absolute("site.licence"), None), (_absolute("developers.api_reference"), None)]
    entries += [(_absolute("catalog.dataset_page", slug=d.slug), d.updated_at) for d in datasets]
    entries += [(_absolute("catalog.theme_page", code=t.key), newest.get(("theme", t.key)))
                for t in service.list_themes(session, ANONYMOUS)]
    entries += [(_absolute("catalog.department_page", slug=t.key), newest.get(("department", t.key)))
                for t in service.list_departments(session, ANONYMOUS) if t.count]
    return _xml(feeds.sitemap(entries), "application/xml")


@bp.get("/robots.txt")
def robots():
    body = feeds.robots(_absolute("site.sitemap"), NOT_CRAWLED)
    response = Response(body, mimetype="text/plain")
    response.headers["Cache-Control"] = XML_CACHE
    return response
