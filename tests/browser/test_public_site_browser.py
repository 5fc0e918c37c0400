"""The public site of issue 13 in Chromium at desktop (1366 px) and phone (390 px) widths, in both
languages: accessibility (axe-core: labels, names, contrast), visible keyboard focus, the sticky
footer, folded facets and the header on a phone, and the preview's operators, column menu, sticky
header and page jump. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
FLIGHTS = "nyc-flights-2013"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
PAGES = ["/", "/datasets", "/themes", "/themes/commerce", f"/datasets/{FLIGHTS}", "/datasets/nope"]
# WCAG 2 A/AA rules of axe-core; what a Lighthouse accessibility audit checks, run in the page.
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']},
                                          exclude: [['#chart-view']]});
  return result.violations.map(v => ({id: v.id, impact: v.impact,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


@pytest.fixture(params=list(WIDTHS))
def width(request):
    return request.param


@pytest.fixture
def site(browser, width):
    context = browser.new_context(viewport=WIDTHS[width], is_mobile=width == "phone", bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def use_locale(page, base: str, locale: str) -> None:
    page.goto(f"{base}/locale/{locale}")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_accessibility_and_keyboard_focus(site, live_server, width, locale):
    use_locale(site, live_server, locale)
    problems = {}
    for path in PAGES:
        site.goto(live_server + path)
        site.add_script_tag(path=str(AXE))
        violations = site.evaluate(AXE_RUN)
        if violations:
            problems[path] = violations
        shot(site, f"site-{width}-{locale}-{_name(path)}")
    assert not problems, problems

    site.goto(live_server + "/datasets")
    for _ in range(6):
        site.keyboard.press("Tab")
        outline = site.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
            return {tag: e.tagName, width: parseFloat(s.outlineWidth), style: s.outlineStyle}; }""")
        assert outline["width"] >= 2 and outline["style"] != "none", outline


def test_footer_stays_at_the_bottom_of_short_pages(site, live_server, width):
    site.goto(live_server + "/themes/commerce")
    bottom = site.evaluate("document.querySelector('.site-footer').getBoundingClientRect().bottom")
    height = site.evaluate("document.documentElement.clientHeight")
    scroll = site.evaluate("document.documentElement.scrollHeight")
    assert bottom >= height - 1 or scroll > height, (bottom, height)
    assert site.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]
    shot(site, f"site-{width}-empty-theme")


def test_phone_header_and_folded_facets(browser, live_server):
    context = browser.new_context(viewport=WIDTHS["phone"], is_mobile=True)
    page = context.new_page()
    page.goto(live_server + "/datasets")
    brand = page.locator(".brand").bounding_box()
    search = page.locator(".search-box input").bounding_box()
    assert brand["x"] >= 10 and search["x"] >= 10 and search["x"] + search["width"] <= 390 - 10
    assert not page.locator("details[data-facets]").evaluate("d => d.open")
    first_card = page.locator(".results .card").first.bounding_box()
    assert first_card["y"] < 844, "the first dataset is on the first screen"
    shot(page, "site-phone-datasets-folded")
    page.locator(".facets-button").click()
    assert page.locator(".facets .facet").first.is_visible()
    shot(page, "site-phone-datasets-filters-open")
    context.close()


def test_preview_operators_columns_and_page_jump(site, live_server, width):
    use_locale(site, live_server, "en")
    site.goto(live_server + f"/datasets/{FLIGHTS}")
    site.select_option("select[name='op.dep_delay']", "gt")
    site.locator("tr.filters input[name='dep_delay__gt']").fill("60")
    site.locator("tr.filters input[name='origin__contains']").fill("JFK")
    site.locator(".preview-actions button").click()
    site.wait_for_url(re.compile(r"dep_delay__gt=60"))
    query = site.url.split("?", 1)[1].split("#")[0]
    assert sorted(query.split("&")) == ["dep_delay__gt=60", "origin__contains=JFK"]
    assert site.locator(".active-filters li").count() == 2
    shot(site, f"site-{width}-preview-filtered")

    site.locator("tr.filters input[name='dep_delay__gt']").fill("abc")
    site.locator(".preview-actions button").click()
    site.wait_for_url(re.compile(r"dep_delay__gt=abc"))
    assert site.locator("#preview-problems").is_visible()
    assert site.locator("table.rows tbody tr").count() == 25
    shot(site, f"site-{width}-preview-bad-value")

    site.goto(live_server + f"/datasets/{FLIGHTS}")
    site.locator(".columns-menu summary").click()
    site.locator(".columns-menu input[data-column='0']").uncheck()
    assert not site.locator("table.rows th[data-column='0']").is_visible()
    site.locator(".table-sticky").evaluate("e => e.scrollTop = 400")
    head = site.locator("table.rows thead tr").first.bounding_box()
    box = site.locator(".table-sticky").bounding_box()
    assert abs(head["y"] - box["y"]) < 3, "the header row stays at the top of the scrolled table"
    shot(site, f"site-{width}-preview-columns")

    site.locator(".page-jump input[name=page]").fill("100")
    site.locator(".page-jump button").click()
    site.wait_for_url(re.compile(r"page=100"))
    assert "Page 100 of 13,472" in site.locator(".pager span").inner_text()
    site.locator(".pager a[rel=last]").click()
    site.wait_for_url(re.compile(r"page=13472"))


def _name(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"
