"""Issue 13 looked at as a citizen would, in Chromium at 1366 and 390 px and in both languages:
every public page passes WCAG 2 A/AA (axe-core) and a contrast ratio computed here from the
computed styles, has its landmarks and `lang`, shows keyboard focus and does not scroll sideways;
downloads open in the programs people use; feeds, sitemap and robots are well formed; the demo
catalog names the real publisher; a chart's axis is in the page's language. Screenshots go to
tests/artifacts/ (item 9)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from email import message_from_bytes, policy
from pathlib import Path

import openpyxl
import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = ("zh_CN", "en")
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
# Every kind of public page: lists, facets, the four kinds of search query (Chinese, English,
# pinyin, a typo), datasets that are open, conditional, mapped, a time series, many categories;
# the preview clamped past its end; error, developer and account pages.
PAGES = ["/", "/themes", "/themes/transport", "/themes/commerce", "/datasets",
         "/datasets?theme=transport&format=csv", "/search?q=航班", "/search?q=flights",
         "/search?q=hangban", "/search?q=fligths", "/datasets/usgs-earthquakes-2018-week",
         "/datasets/mauna-loa-co2-weekly", "/datasets/world-fertility-rate",
         "/datasets/household-income-survey-synthetic", "/datasets/nyc-flights-2013?page=99999",
         "/departments/us-bts", "/about", "/licence", "/developers/api", "/login", "/register",
         "/datasets/nope", "/steward/applications"]
# The page's text, foreground against the first opaque background behind it: WCAG 2 contrast
# (4.5:1, or 3:1 for large text). Text over an image or inside a chart/map canvas is left to axe.
CONTRAST = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { let layers = [];
    for (let e = el; e; e = e.parentElement) { const s = getComputedStyle(e);
      if (s.backgroundImage !== 'none' && !s.backgroundImage.startsWith('linear-gradient')) return null;
      const c = parse(s.backgroundColor); if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let out = {r: 255, g: 255, b: 255};
    for (const c of layers.reverse()) out = {r: c.r * c.a + out.r * (1 - c.a), g: c.g * c.a + out.g * (1 - c.a), b: c.b * c.a + out.b * (1 - c.a)};
    return out; };
  const bad = []; const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement; if (!n.textContent.trim() || !el || el.closest('svg, canvas, .map-view, #chart-view, [hidden], details:not([open]) > :not(summary)')) continue;
    const s = getComputedStyle(el); const box = el.getBoundingClientRect();
    if (s.visibility === 'hidden' || s.display === 'none' || box.width === 0 || box.height === 0 || parseFloat(s.opacity) === 0) continue;
    const fg = parse(s.color), bg = background(el); if (!fg || !bg) continue;
    const mixed = {r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a)};
    const [hi, lo] = [lum(mixed), lum(bg)].sort((a, b) => b - a); const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push({text: n.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, need});
  }
  return bad.slice(0, 10);
}"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']},
                                          exclude: [['#chart-view']]});
  return result.violations.map(v => ({id: v.id, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""
STRUCTURE = """() => ({lang: document.documentElement.lang, main: document.querySelectorAll('main').length,
  header: !!document.querySelector('header'), nav: !!document.querySelector('nav'),
  footer: !!document.querySelector('footer'), h1: document.querySelectorAll('h1').length,
  unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea')].filter(e =>
     !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')).map(e => e.name),
  scroll: document.documentElement.scrollWidth})"""
FOCUS = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {tag: e.tagName, text: (e.textContent || e.name || '').trim().slice(0, 30),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, shadow: s.boxShadow !== 'none'}; }"""


@pytest.fixture(params=[(w, loc) for w in WIDTHS for loc in LOCALES], ids=lambda p: f"{p[0]}-{p[1]}")
def citizen(request, browser, live_server):
    width, locale = request.param
    context = browser.new_context(viewport=WIDTHS[width], is_mobile=width == "phone", bypass_csp=True,
                                  accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server}/locale/{locale}")
    yield page, width, locale
    context.close()
    assert not errors, errors


def _name(path: str) -> str:
    return re.sub(r"\W+", "-", path.lower()).strip("-")[:60] or "home"


def test_every_public_page_is_accessible_and_fits(citizen, live_server):
    page, width, locale = citizen
    problems = {}
    for path in PAGES:
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        found = {}
        s = page.evaluate(STRUCTURE)
        if s["lang"] != ("zh-CN" if locale == "zh_CN" else "en"):
            found["lang"] = s["lang"]
        if (s["main"], s["header"], s["nav"], s["footer"], s["h1"]) != (1, True, True, True, 1):
            found["landmarks"] = s
        if s["unlabelled"]:
            found["unlabelled"] = s["unlabelled"]
        if s["scroll"] > WIDTHS[width]["width"]:
            found["sideways"] = s["scroll"]
        if contrast := page.evaluate(CONTRAST):
            found["contrast"] = contrast
        page.add_script_tag(path=str(AXE))
        if violations := page.evaluate(AXE_RUN):
            found["axe"] = violations
        if found:
            problems[path] = found
        shot(page, f"review-{width}-{locale}-{_name(path)}")
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


def test_keyboard_focus_is_visible_through_a_dataset_page(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    unseen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        if focus["tag"] != "BODY" and not (focus["outline"] or focus["shadow"]):
            unseen.append(focus)
    assert not unseen, unseen
    shot(page, f"review-{width}-{locale}-focus")


def test_downloads_open_in_the_programs_people_use(citizen, live_server, tmp_path):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    shot(page, f"review-{width}-{locale}-downloads")

    def fetch(link) -> Path:
        with page.expect_download() as info:
            page.locator(f".downloads a[href$='{link}']").first.click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        return target

    book = openpyxl.load_workbook(fetch("/download/xlsx"), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("id", "time (UTC)") and len(rows) == 1 + 1707
    assert isinstance(rows[1][2], float | int)  # magnitudes are numbers, not text
    text = fetch("/download/csv?bom=1").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    table = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(table) == 1707 and table[0]["time"].endswith("Z")
    records = json.loads(fetch("/download/json").read_text("utf-8"))
    assert len(records) == 1707 and records[0]["time"].endswith("Z")
    features = json.loads(fetch("/download/geojson").read_text("utf-8"))
    assert features["type"] == "FeatureCollection" and len(features["features"]) == 1707
    lon, lat = features["features"][0]["geometry"]["coordinates"]
    assert -180 <= lon <= 180 and -90 <= lat <= 90

    page.goto(live_server + "/datasets/china-township-divisions-2023")
    book = openpyxl.load_workbook(fetch("/download/xlsx"), read_only=True)
    first = next(book.worksheets[0].iter_rows(min_row=2, max_row=2, values_only=True))
    assert first[0] == "110101001" and "街道" in first[1]  # codes stay text, Chinese intact


def test_feeds_sitemap_robots_and_opengraph(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    assert page.locator("meta[property='og:title']").get_attribute("content")
    feeds = page.evaluate("[...document.querySelectorAll('link[type=\"application/atom+xml\"]')].map(l => l.href)")
    assert feeds
    for url in [*feeds, f"{live_server}/feeds/datasets.atom", f"{live_server}/feeds/departments/us-bts.atom"]:
        response = page.request.get(url)
        assert response.headers["content-type"].startswith("application/atom+xml"), url
        feed = ET.fromstring(response.body())
        assert feed.tag == f"{ATOM}feed"
        for tag in ("id", "title", "updated", "author"):
            assert feed.find(f"{ATOM}{tag}") is not None, (url, tag)
        assert any(link.get("rel") == "self" for link in feed.findall(f"{ATOM}link"))
        for entry in feed.findall(f"{ATOM}entry"):
            for tag in ("id", "title", "updated", "link", "summary"):
                assert entry.find(f"{ATOM}{tag}") is not None, (url, tag)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find(f"{ATOM}updated").text)
    author = ET.fromstring(page.request.get(f"{live_server}/feeds/datasets.atom").body()).find(f"{ATOM}author/{ATOM}name")
    assert ("市政府" in author.text) == (locale == "zh_CN")
    sitemap = ET.fromstring(page.request.get(f"{live_server}/sitemap.xml").body())
    urls = {u.find(f"{SITEMAP}loc").text for u in sitemap}
    assert f"{live_server}/themes" in urls and f"{live_server}/datasets/usgs-earthquakes-2018-week" in urls
    for url in list(urls)[:5]:
        assert page.request.get(url).status == 200, url
    robots = page.request.get(f"{live_server}/robots.txt").text()
    assert f"Sitemap: {live_server}/sitemap.xml" in robots
    page.goto(f"{live_server}/feeds/datasets.atom")
    shot(page, f"review-{width}-{locale}-feed")


def test_demo_catalog_names_the_real_publisher(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    publisher = "美国交通统计局" if locale == "zh_CN" else "US Bureau of Transportation Statistics"
    assert page.locator(".notice-demo").is_visible()
    assert page.locator("a[href='/departments/us-bts']", has_text=publisher).first.is_visible()
    shot(page, f"review-{width}-{locale}-demo-publisher")


def test_chart_axis_units_in_the_page_language(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/nyc-flights-2013")
    page.wait_for_selector("#chart-view svg")
    titles = " ".join(page.eval_on_selector_all("#chart-view .role-axis-title text", "els => els.map(e => e.textContent)"))
    if locale == "zh_CN":
        assert "分钟" in titles and "(min)" not in titles, titles
    else:
        assert "(min)" in titles, titles


def test_account_pages_fit_a_phone_and_speak_its_language(citizen, live_server, bundled_app):
    page, width, locale = citizen
    email = f"a-very-long-address-of-a-citizen-{uuid.uuid4().hex[:8]}@example.org"
    page.goto(live_server + "/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.fill("input[name=confirm]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    mail = next(m for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                            for p in Path(bundled_app.config["MAIL_DIR"]).glob("*.eml")) if m["To"] == email)
    page.goto(re.search(r"http://\S+/confirm/\S+", mail.get_content()).group(0))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "browser-password-1")
    page.locator("form.stacked button[type=submit]").click()
    for path in ("/account", "/account/usage", "/access/apply?dataset=household-income-survey-synthetic"):
        page.goto(live_server + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"], path
        shot(page, f"review-{width}-{locale}-{_name(path)}")
    page.goto(live_server + "/account")
    role = page.locator(".account-facts dd").nth(1).inner_text()
    assert role == ("开发者" if locale == "zh_CN" else "Developer")
    page.goto(live_server + "/access/apply?dataset=household-income-survey-synthetic")
    label = page.locator("input[value='household-income-survey-synthetic']").locator("xpath=..").inner_text()
    assert ("城乡住户" in label) == (locale == "zh_CN") and ("Household" in label) == (locale == "en")


def test_the_map_opens_on_every_point_even_on_a_phone(citizen, live_server):
    page, width, locale = citizen
    page.goto(live_server + "/datasets/usgs-earthquakes-2018-week")
    page.wait_for_function("() => { const m = document.getElementById('map-view').kaifangMap; return m && m._loaded; }")
    bounds = page.request.get(live_server + "/datasets/usgs-earthquakes-2018-week/points.json").json()["bounds"]
    page.wait_for_timeout(300)
    inside = page.evaluate("""b => { const m = document.getElementById('map-view').kaifangMap;
        return m.getBounds().pad(0.01).contains(L.latLngBounds([b[1], b[0]], [b[3], b[2]])); }""", bounds)
    page.locator("#map-view").scroll_into_view_if_needed()
    shot(page, f"review-{width}-{locale}-map-fit")
    assert inside, "the first view of the map shows every point"
