"""Sitemap, robots.txt, Atom feeds and OpenGraph tags: valid, complete, and only what the public
may see (a draft never appears, even when its own publisher asks)."""

from __future__ import annotations

import warnings
from xml.etree import ElementTree as ET

import pytest

from portal.catalog.models import Dataset
from portal.db import session_scope
from tests.factories import dataset_folder, load, user

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture
def catalog(app, tmp_path):
    """Two published datasets of one department (one <b>-titled, to test escaping) and a draft."""
    load(app, dataset_folder(tmp_path / "a", "districts"))
    load(app, dataset_folder(tmp_path / "b", "tricky", title_zh="<b>税 & 费</b>"))
    load(app, dataset_folder(tmp_path / "c", "secret-draft"))
    with app.app_context(), session_scope(app) as session:
        session.query(Dataset).filter_by(slug="secret-draft").update({"published": False})
        session.commit()
    return app


def _parse_atom(body: bytes):
    import feedparser

    with warnings.catch_warnings():  # feedparser's own deprecation warnings are not ours
        warnings.simplefilter("ignore")
        return feedparser.parse(body)


@pytest.mark.parametrize("path", ["/feeds/datasets.atom", "/feeds/themes/geospatial.atom",
                                  "/feeds/departments/stats-bureau.atom"])
def test_feeds_are_valid_atom_without_drafts(catalog, path):
    client = catalog.test_client()
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    parsed = _parse_atom(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    root = ET.fromstring(response.data)
    for required in ("id", "title", "updated", "author"):  # RFC 4287 §4.1.1
        assert root.find(f"{ATOM}{required}") is not None, required
    assert root.find(f"{ATOM}link[@rel='self']").get("href").endswith(path)
    slugs = {e.link.rsplit("/", 1)[-1] for e in parsed.entries}
    assert slugs == {"districts", "tricky"}
    titles = {e.title for e in parsed.entries}
    assert "<b>税 & 费</b>" in titles  # escaped as text, not markup
    for entry in parsed.entries:
        assert entry.id.startswith("http://") and entry.updated.endswith("Z") and entry.summary


def test_feed_of_an_empty_theme_and_unknown_ones(catalog):
    client = catalog.test_client()
    parsed = _parse_atom(client.get("/feeds/themes/health.atom").data)
    assert not parsed.bozo and parsed.entries == []
    assert client.get("/feeds/themes/nope.atom").status_code == 404
    assert client.get("/feeds/departments/nope.atom").status_code == 404


def test_feed_titles_follow_the_language(catalog):
    client = catalog.test_client()
    zh = _parse_atom(client.get("/feeds/datasets.atom").data)
    client.get("/locale/en")
    en = _parse_atom(client.get("/feeds/datasets.atom").data)
    assert "新" in zh.feed.title and "New and updated datasets" in en.feed.title
    assert {e.title for e in en.entries} >= {"Districts"}


def test_drafts_stay_out_even_for_their_publisher(catalog):
    user(catalog, "publisher", email="pub@example.org")
    client = catalog.test_client()
    client.post("/login", data={"email": "pub@example.org", "password": "factory-password-1"})
    for path in ("/feeds/datasets.atom", "/feeds/departments/stats-bureau.atom", "/sitemap.xml"):
        assert "secret-draft" not in client.get(path).text, path


def test_sitemap_lists_every_public_page_with_lastmod(catalog):
    response = catalog.test_client().get("/sitemap.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    urls = {u.find(f"{SITEMAP}loc").text: u.find(f"{SITEMAP}lastmod") for u in root}
    assert "http://localhost/datasets/districts" in urls and "http://localhost/datasets/tricky" in urls
    assert "http://localhost/themes/geospatial" in urls and "http://localhost/themes/health" in urls
    assert "http://localhost/departments/stats-bureau" in urls
    assert "http://localhost/themes" in urls and "http://localhost/developers/api" in urls
    assert not any("secret-draft" in u for u in urls)
    assert urls["http://localhost/datasets/districts"].text.endswith("Z")
    assert urls["http://localhost/themes/geospatial"] is not None
    assert urls["http://localhost/themes/health"] is None  # nothing on it has changed


def test_robots_points_to_the_sitemap_and_keeps_crawlers_off_heavy_urls(catalog):
    response = catalog.test_client().get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.text.splitlines()
    assert "Allow: /" in lines and "Disallow: /api/" in lines
    assert "Disallow: /datasets/*/download/" in lines
    assert "Sitemap: http://localhost/sitemap.xml" in lines


def test_discovery_urls_are_not_rate_limited(catalog):
    client = catalog.test_client()
    for path in ("/sitemap.xml", "/robots.txt", "/feeds/datasets.atom"):
        assert "RateLimit" not in client.get(path).headers, path


def test_pages_link_their_feeds_and_dataset_pages_carry_opengraph(catalog):
    client = catalog.test_client()
    home = client.get("/").text
    assert 'type="application/atom+xml" href="/feeds/datasets.atom"' in home
    assert 'href="/feeds/themes/geospatial.atom"' in client.get("/themes/geospatial").text
    assert 'href="/feeds/departments/stats-bureau.atom"' in client.get("/departments/stats-bureau").text
    page = client.get("/datasets/tricky").text
    assert '<meta property="og:title" content="&lt;b&gt;税 &amp; 费&lt;/b&gt;">' in page
    for tag in ("og:description", "og:type", "og:locale"):
        assert f'<meta property="{tag}"' in page
    assert '<meta property="og:url" content="http://localhost/datasets/tricky">' in page
