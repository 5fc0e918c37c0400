"""Documents for discovery: Atom 1.0 feeds of new and updated datasets, the sitemap, robots.txt.

Pure builders over the catalog's `DatasetSummary` records; the views choose what is listed
(always as the anonymous public sees it, so drafts and hidden datasets never appear) and give
a function that makes absolute URLs. XML is built with ElementTree, which escapes every text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from portal.catalog.schemas import DatasetSummary

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

Url = Callable[..., str]  # (endpoint, **values) -> absolute URL


@dataclass(frozen=True)
class FeedInfo:
    """What one feed is about: its id and self link, the page it mirrors, title and language."""

    self_url: str
    page_url: str
    title: str
    author: str
    lang: str  # "zh" or "en": which title and description the entries carry


def _iso(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def atom(info: FeedInfo, datasets: Iterable[DatasetSummary], url: Url) -> bytes:
    """An Atom 1.0 feed (RFC 4287): feed id/title/updated/author/link rel=self, and per entry
    id/title/updated/link/summary. `updated` is the newest entry's (or a fixed epoch when empty,
    so the document is stable and cacheable)."""
    items = list(datasets)
    feed = ET.Element("feed", {"xmlns": ATOM, "xml:lang": "zh-CN" if info.lang == "zh" else "en"})
    _text(feed, "id", info.self_url)
    _text(feed, "title", info.title)
    _text(feed, "updated", _iso(max((d.updated_at for d in items), default=EPOCH)))
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = info.author
    ET.SubElement(feed, "link", {"rel": "self", "type": "application/atom+xml", "href": info.self_url})
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": info.page_url})
    for dataset in items:
        _entry(feed, dataset, url, info.lang)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _entry(feed: ET.Element, d: DatasetSummary, url: Url, lang: str) -> None:
    page = url("catalog.dataset_page", slug=d.slug)
    entry = ET.SubElement(feed, "entry")
    _text(entry, "id", page)
    _text(entry, "title", (d.title_zh if lang == "zh" else d.title_en) or d.title_zh or d.slug)
    _text(entry, "updated", _iso(d.updated_at))
    ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html", "href": page})
    department = d.department.name_zh if lang == "zh" else d.department.name_en
    ET.SubElement(ET.SubElement(entry, "author"), "name").text = department or d.department.key
    theme = d.theme.name_zh if lang == "zh" else d.theme.name_en
    ET.SubElement(entry, "category", {"term": d.theme.key, "label": theme or d.theme.key})
    summary = (d.description_zh if lang == "zh" else d.description_en) or d.description_zh
    if summary:
        _text(entry, "summary", summary, type="text")


def sitemap(entries: Iterable[tuple[str, datetime | None]]) -> bytes:
    """A sitemaps.org urlset of (absolute URL, last modified or None)."""
    urlset = ET.Element("urlset", {"xmlns": SITEMAP})
    for loc, lastmod in entries:
        item = ET.SubElement(urlset, "url")
        _text(item, "loc", loc)
        if lastmod is not None:
            _text(item, "lastmod", _iso(lastmod))
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)


def robots(sitemap_url: str, disallowed: Iterable[str]) -> str:
    """Crawl the site; keep crawlers off the row API, downloads and computed endpoints, whose
    every URL variant would otherwise be fetched (and which the sitemap and feeds don't list)."""
    lines = ["User-agent: *", "Allow: /", *(f"Disallow: {path}" for path in disallowed),
             "", f"Sitemap: {sitemap_url}", ""]
    return "\n".join(lines)
