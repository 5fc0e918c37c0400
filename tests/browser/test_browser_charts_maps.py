"""Charts and maps of the dataset page in a real Chromium, at desktop (1366 px) and phone (390 px)
width, in both languages (issue 13, items 1, 2 and 9). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
WIDTHS = (1366, 390)
LOCALES = ("zh_CN", "en")
WORDS = {  # what the page's language must show, and what the other language must not
    "zh_CN": {"delay": "起飞延误", "others": "其他", "missing": "请为该指标选择一个数值字段", "points": "地图上的点"},
    "en": {"delay": "Departure delay", "others": "Others", "missing": "Choose a numeric field", "points": "Points on the map"},
}


@pytest.fixture(params=[(w, loc) for w in WIDTHS for loc in LOCALES], ids=lambda p: f"{p[0]}-{p[1]}")
def visitor(request, browser, live_server):
    width, locale = request.param
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server}/locale/{locale}")
    yield page, width, locale
    context.close()
    assert not violations


def axis_label_rotations(page) -> list[str]:
    return page.eval_on_selector_all("#chart-view .role-axis-label text",
                                     "els => els.map(e => e.getAttribute('transform') || '')")


def fits(page, selector: str) -> bool:
    """The element is no wider than the viewport and has nothing sticking out sideways."""
    return page.eval_on_selector(selector, """e => e.scrollWidth <= e.clientWidth + 1
        && e.getBoundingClientRect().right <= document.documentElement.clientWidth + 1""")


def draw(page, **choices) -> None:
    for name, value in choices.items():
        page.select_option(f".chart-form select[name={name}]", value)
    page.locator(".chart-form button[type=submit]").click()


def test_default_chart_is_a_time_line_with_titles_in_the_page_language(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/nyc-flights-2013#chart")
    page.wait_for_selector("#chart-view svg", timeout=30_000)
    svg_text = page.eval_on_selector("#chart-view svg", "e => e.textContent")
    assert WORDS[locale]["delay"] in svg_text
    assert "mean(" not in svg_text and "count" not in svg_text
    assert "336,776" in page.locator(".chart-note").inner_text()
    assert not any("rotate" in t for t in axis_label_rotations(page))
    assert fits(page, "#chart")
    page.locator("#chart").scroll_into_view_if_needed()
    shot(page, f"chart-flights-time-{locale}-{width}")


def test_categories_are_capped_and_the_chart_says_so(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/world-fertility-rate#chart")
    page.wait_for_selector("#chart-view svg", timeout=30_000)
    draw(page, x="country", agg="mean", y="fertility_rate")
    # 219 names, of which 5 are regional aggregates the descriptor flags: 214 countries are ranked
    page.locator(".chart-note", has_text="214").wait_for()
    assert WORDS[locale]["others"] in page.locator(".chart-note").inner_text()
    on_screen = page.eval_on_selector("#chart", "e => e.innerText")
    assert on_screen.count("214") == 1, on_screen  # the caption; not also the chart's subtitle
    labels = page.eval_on_selector_all("#chart-view .role-axis-label text", "els => els.map(e => e.textContent)")
    assert "Niger" in labels and any(WORDS[locale]["others"] in label for label in labels)
    assert not any("rotate" in t for t in axis_label_rotations(page))  # horizontal bars: never turned
    assert fits(page, "#chart")
    shot(page, f"chart-fertility-top-{locale}-{width}")

    with page.expect_download() as csv_download:
        page.locator(".chart-csv").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    with page.expect_download() as png_download:
        page.locator("button[data-export=png]").click()
    assert png_download.value.suggested_filename.endswith(".png")
    with page.expect_download() as svg_download:
        page.locator("button[data-export=svg]").click()
    exported = Path(svg_download.value.path()).read_text(encoding="utf-8")
    assert "214" in exported and WORDS[locale]["others"] in exported  # a saved file carries its note


def test_short_codes_are_not_rotated(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/nyc-flights-2013#chart")
    page.wait_for_selector("#chart-view svg", timeout=30_000)
    draw(page, x="origin", agg="count")
    page.locator("#chart-view .role-axis-label text", has_text="JFK").first.wait_for()
    assert not any("rotate" in t for t in axis_label_rotations(page))


def test_mean_without_a_field_is_explained_in_the_page_language(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/world-fertility-rate#chart")
    page.wait_for_selector("#chart-view svg", timeout=30_000)
    page.select_option(".chart-form select[name=y]", "")
    draw(page, x="country", agg="mean")
    error = page.locator(".chart-error")
    error.wait_for(state="visible")
    assert WORDS[locale]["missing"] in error.inner_text()
    assert page.locator("#chart-view svg").count() == 0  # the old chart is gone, not left standing
    shot(page, f"chart-error-{locale}-{width}")


def test_earthquake_map_shows_points_with_a_popup_of_the_row(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/usgs-earthquakes-2018-week#map")
    page.locator(".map-note", has_text="1,707").wait_for(timeout=30_000)
    assert WORDS[locale]["points"] in page.locator(".map-note").inner_text()
    assert page.locator("#map-view img.leaflet-tile").count() == 0  # no external tiles by default
    assert fits(page, "#map")
    # Click the first earthquake through the map's own projection; its popup lists the row.
    point = page.evaluate("""async () => {
        const data = await (await fetch(document.getElementById('map-view').dataset.endpoint)).json();
        const map = document.getElementById('map-view').kaifangMap;
        const p = data.points[0];
        map.setView([p[1], p[0]], 9, {animate: false});
        const xy = map.latLngToContainerPoint([p[1], p[0]]);
        const box = document.getElementById('map-view').getBoundingClientRect();
        return {x: box.left + xy.x, y: box.top + xy.y, id: p[2][0]};
    }""")
    page.wait_for_timeout(600)  # let the canvas redraw at the new view before clicking
    page.mouse.click(point["x"], point["y"])
    popup = page.locator(".leaflet-popup-content .map-popup")
    popup.wait_for(state="visible", timeout=10_000)
    assert re.search(r"[a-z]{2}\d+", popup.inner_text())
    page.locator("#map").scroll_into_view_if_needed()
    shot(page, f"map-earthquakes-{locale}-{width}")


def test_county_map_draws_every_located_county(visitor, live_server):
    page, width, locale = visitor
    page.goto(f"{live_server}/datasets/china-county-coordinates#map")
    note = page.locator(".map-note", has_text=WORDS[locale]["points"])
    note.wait_for(timeout=30_000)
    total = page.evaluate("""async () => (await (await fetch(
        document.getElementById('map-view').dataset.endpoint)).json()).total""")
    assert f"{total:,}" in note.inner_text() and total > 3000
    page.locator("#map").scroll_into_view_if_needed()
    shot(page, f"map-counties-{locale}-{width}")
