"""A new visitor's journey in a real headless Chromium: home → theme → dataset → preview page 2
→ download CSV, plus the language switch, the chart, a conditional dataset and the phone layout."""

from __future__ import annotations

import csv
import re

import pytest

from tests.browser.conftest import shot

pytestmark = pytest.mark.browser
FLIGHTS = "nyc-flights-2013"


def test_home_theme_dataset_preview_download(page, live_server, tmp_path):
    page.goto(live_server + "/")
    assert page.locator("h1").first.inner_text() == "城市公共数据，向所有人开放"
    assert page.locator(".theme-tile").count() == 21
    shot(page, "01-home")

    page.locator(".theme-tile", has_text="道路交通").click()
    page.wait_for_url(re.compile(r"/themes/transport"))
    assert page.locator("h1").inner_text() == "道路交通"
    shot(page, "02-theme")

    page.locator(f"a[href='/datasets/{FLIGHTS}']").first.click()
    page.wait_for_url(re.compile(rf"/datasets/{FLIGHTS}$"))
    assert page.locator("table.rows tbody tr").count() == 25
    first_page = page.locator("table.rows tbody tr").first.inner_text()
    shot(page, "03-dataset")

    page.locator("#preview a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator(".pager span").inner_text().startswith("第 2 页")
    assert page.locator("table.rows tbody tr").first.inner_text() != first_page
    shot(page, "04-preview-page-2")

    with page.expect_download(timeout=60_000) as info:
        page.locator("#downloads a", has_text="CSV").first.click()
    path = tmp_path / "flights.csv"
    info.value.save_as(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert "dep_delay" in header
        assert sum(1 for _ in reader) == 336_776


def test_sort_filter_and_chart(page, live_server):
    page.goto(live_server + f"/datasets/{FLIGHTS}")
    page.locator("th a", has_text="dep_delay").click()
    page.wait_for_url(re.compile(r"sort=dep_delay"))
    page.locator("input[name='origin__contains']").fill("JFK")
    page.locator(".preview-actions button").click()
    page.wait_for_url(re.compile(r"origin__contains=JFK"))
    headers = [h.strip(" ▲▼") for h in page.locator("table.rows thead tr").first.locator("th").all_inner_texts()]
    column = headers.index("origin") + 1
    origins = page.locator(f"table.rows tbody tr td:nth-child({column})").all_inner_texts()
    assert origins and all(o == "JFK" for o in origins)

    page.select_option(".chart-form select[name=x]", "carrier")
    page.locator(".chart-form button").click()
    page.wait_for_selector("#chart-view svg", timeout=20_000)
    shot(page, "05-chart")


def test_english_switch(page, live_server):
    page.goto(live_server + "/")
    page.locator(".lang-switch a").click()
    page.wait_for_load_state()
    assert page.locator("h1").first.inner_text() == "The city's public data, open to everyone"
    assert page.locator(".theme-tile", has_text="Roads & Transport").count() == 1
    shot(page, "06-home-en")


def test_conditional_dataset_shows_no_rows(page, live_server):
    page.goto(live_server + "/datasets/clinic-visits-synthetic")
    assert page.locator("#apply").is_visible()
    assert page.locator("table.rows").count() == 0
    assert page.locator("#downloads").count() == 0
    shot(page, "07-conditional")
    response = page.goto(live_server + "/datasets/clinic-visits-synthetic/download/csv")
    assert response.status == 403


def test_phone_layout(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server + f"/datasets/{FLIGHTS}")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, "the page must not scroll sideways on a phone"
    shot(page, "08-phone-dataset")
    context.close()
