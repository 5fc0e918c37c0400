"""What a citizen's browser checks on every public page (issue 13, decision 0021f), shared by the
review's files: one file per viewport for the heaviest check (23 pages, each with axe-core, at
40-55 s a viewport and language under load), so that `--dist loadfile` can run them on both
workers instead of one."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.conftest import shot

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = ("zh_CN", "en")
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


@contextmanager
def citizen_page(browser, live_server: str, width: str, locale: str):
    """A page of a new context at `width` in `locale`; no script error may happen on it."""
    context = browser.new_context(viewport=WIDTHS[width], is_mobile=width == "phone", bypass_csp=True,
                                  accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server}/locale/{locale}")
    yield page
    context.close()
    assert not errors, errors


def page_name(path: str) -> str:
    return re.sub(r"\W+", "-", path.lower()).strip("-")[:60] or "home"


def every_page_problems(page, live_server: str, width: str, locale: str) -> dict:
    """Each public page's problems (language, landmarks, labels, sideways scroll, contrast, axe),
    keyed by its path; a screenshot of each page."""
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
        shot(page, f"review-{width}-{locale}-{page_name(path)}")
    return problems


def every_page_test(width: str):
    """The test of every public page at `width`, in both languages: each viewport's file holds
    it under the same name, so the two files are two units for `--dist loadfile`."""

    @pytest.mark.browser
    @pytest.mark.parametrize("locale", LOCALES)
    def test(browser, live_server, locale):
        with citizen_page(browser, live_server, width, locale) as page:
            problems = every_page_problems(page, live_server, width, locale)
        assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)

    return test
