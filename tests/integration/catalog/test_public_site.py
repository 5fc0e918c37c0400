"""The public site of issue 13 (items 3, 4, 6, 8): the preview's operators, clean filter
addresses, inline errors and page jumps; views counted once per visitor and day; tags, units,
licences, contacts, plurals and problem titles in the page's language; the themes index, honest
empty states and the demo catalog's real publishers."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest

FLIGHTS = "nyc-flights-2013"


def en(client):
    client.get("/locale/en")
    return client


def redirected_args(response) -> dict[str, str]:
    assert response.status_code == 303, response.status_code
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def test_a_submitted_form_keeps_only_the_filters_in_effect(bundled_client):
    response = bundled_client.get(f"/datasets/{FLIGHTS}", query_string={
        "op.year": "eq", "year__eq": "", "op.origin": "contains", "origin__contains": " JFK ",
        "op.dep_delay": "eq", "dep_delay__eq": ">60", "op.distance": "between", "distance__between": "100..200",
        "op.tailnum": "empty", "tailnum__contains": "", "op.month": "eq", "month__eq": "", "page": "7"})
    assert redirected_args(response) == {"origin__contains": "JFK", "dep_delay__gt": "60",
                                         "distance__between": "100,200", "tailnum__is_null": "1"}
    assert urlsplit(response.headers["Location"]).fragment == "preview"


@pytest.mark.parametrize("query, wanted", [
    ("year__eq=&month__eq=&day__eq=", {}),
    ("dep_delay__eq=%3E%3D30&sort=", {"dep_delay__ge": "30"}),
    ("arr_delay__eq=-5..5", {"arr_delay__between": "-5,5"}),
])
def test_empty_and_shorthand_parameters_are_rewritten(bundled_client, query, wanted):
    assert redirected_args(bundled_client.get(f"/datasets/{FLIGHTS}?{query}")) == wanted


def test_operators_match_the_column_type(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}").text
    origin = re.search(r'<select name="op\.origin".*?</select>', text, re.S)[0]
    delay = re.search(r'<select name="op\.dep_delay".*?</select>', text, re.S)[0]
    ops = lambda menu: re.findall(r'<option value="(\w+)"', menu)  # noqa: E731
    assert ops(origin) == ["contains", "eq", "startswith", "ne", "empty", "notempty"]
    assert ops(delay) == ["eq", "ne", "lt", "le", "gt", "ge", "between", "empty", "notempty"]


def test_filtered_preview_shows_the_filters_and_their_rows(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}?dep_delay__gt=600&origin__eq=JFK").text
    assert 'class="active-filters"' in text and "dep_delay" in text
    assert re.search(r'<option value="gt" selected>', text)
    cells = re.findall(r'<td class="type-integer" data-column="5" translate="no">(-?\d+)</td>', text)
    assert cells and all(int(c) > 600 for c in cells)


def test_a_bad_value_is_explained_and_the_table_stays(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}?dep_delay__gt=abc&origin__eq=JFK").text
    assert 'id="preview-problems"' in text and "“abc”" in text and "dep_delay" in text
    assert 'aria-invalid="true"' in text
    assert text.count('<td class="type-text" data-column="12" translate="no">JFK</td>') == 25  # the good filter applies


def test_a_page_past_the_last_shows_the_last_with_a_notice(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}?page=99999").text
    assert "没有第 99,999 页" in text and "第 13,472 页" in text
    assert 'rel="last"' not in text and 'rel="first"' in text
    first = bundled_client.get(f"/datasets/{FLIGHTS}").text
    assert 'rel="last" href="/datasets/nyc-flights-2013?page=13472#preview"' in first
    assert 'class="page-jump"' in first and 'max="13472"' in first


def test_a_page_of_nothing_says_nothing_matches_not_that_a_page_is_missing(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}?dep_delay__gt=100000&page=5").text
    assert "没有符合筛选条件的记录" in text and "没有第 5 页" not in text
    bundled_client.get("/locale/en")
    one = bundled_client.get(f"/datasets/{FLIGHTS}?dep_delay__gt=1200&page=5").text
    assert "these records have 1 page." in one


def test_list_pages_past_the_last_are_not_found(bundled_client):
    assert bundled_client.get("/datasets?page=2").status_code == 200
    assert bundled_client.get("/datasets?page=50").status_code == 404


def test_a_view_counts_once_per_visitor_and_day(bundled_app):
    from portal.catalog.counters import flush_all
    from portal.catalog.models import ViewMark
    from portal.db import session_scope

    slug, client = "world-fertility-rate", bundled_app.test_client()
    count = lambda: client.get(f"/api/v1/datasets/{slug}").json["summary"]["view_count"]  # noqa: E731
    flush_all()
    before = count()
    for query in ("", "?sort=year", "?page=2", "?sort=-year&page=3"):
        client.get(f"/datasets/{slug}{query}", headers={"User-Agent": "reader one"})
    flush_all()
    assert count() == before + 1
    client.get(f"/datasets/{slug}", headers={"User-Agent": "reader two"})
    flush_all()
    assert count() == before + 2
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        digests = [m.digest for m in session.query(ViewMark)]
    assert digests and all(re.fullmatch(r"[0-9a-f]{40}", d) for d in digests)  # no address kept


def test_home_lists_most_viewed_only_after_views(tmp_path):
    from tests.conftest import empty_app

    client = empty_app(tmp_path / "inst").test_client()
    text = en(client).get("/").text
    assert "Most viewed" not in text
    assert "<strong>0</strong> datasets" in text and "No dataset yet" in text


def test_plurals_follow_the_number(bundled_client):
    text = en(bundled_client).get("/departments/us-bts").text
    assert "1 dataset from this publisher." in text and "1 dataset<" in text


def test_tags_are_shown_in_the_page_language(bundled_client):
    import json

    from tests.conftest import DATASETS

    descriptors = [json.loads(p.read_text(encoding="utf-8")) for p in DATASETS.glob("*/datapackage.json")]
    chinese = {t for d in descriptors for t in d["kaifang"]["tags_zh"]}
    english = {t for d in descriptors for t in d.get("keywords", [])}

    def facet(text):
        found = re.search(r"<h2>(?:标签|Tag)</h2>.*?</ul>", text, re.S)[0]
        return set(re.findall(r'<span translate="no">([^<]+)</span>', found))

    zh_tags = facet(bundled_client.get("/datasets").text)
    assert zh_tags and zh_tags <= chinese and not (zh_tags - chinese) & english
    airports = bundled_client.get("/datasets/us-airports-faa").text
    assert "机场" in re.search(r'<p class="tags">.*?</p>', airports, re.S)[0]
    en_tags = facet(en(bundled_client).get("/datasets").text)
    assert en_tags and en_tags <= english and not en_tags & (chinese - english)


def test_units_licences_and_contact_in_the_page_language(bundled_client):
    zh = bundled_client.get(f"/datasets/{FLIGHTS}").text
    assert "<td>分钟</td>" in zh and "<td>英里</td>" in zh and "知识共享 CC0 1.0" in zh and "开放数据演示站" in zh
    english = en(bundled_client).get(f"/datasets/{FLIGHTS}").text
    assert "<td>minutes</td>" in english and "Kaifang demo instance" in english


def test_problem_title_and_detail_share_a_language(bundled_client):
    generic = bundled_client.get("/api/v1/nope").json
    assert generic["title"] == "未找到" and re.search(r"[\u4e00-\u9fff]", generic["detail"])
    precise = bundled_client.get("/api/v1/datasets/nope").json
    assert precise["title"] == "Not found" and precise["detail"] == "no dataset named 'nope'"


def test_error_pages_explain_in_the_page_language(bundled_client):
    text = bundled_client.get("/datasets/clinic-visits-synthetic/download/csv").text
    assert "该数据集不提供下载" in text and '<details class="technical">' in text and 'lang="en"' in text


def test_themes_index_breadcrumbs_and_empty_states(bundled_client):
    index = bundled_client.get("/themes").text
    assert index.count('class="theme-tile') == 21 and "themes.svg#transport" in index
    economy = bundled_client.get("/themes/economy")
    theme = bundled_client.get("/themes/legal-services").text
    assert '<a href="/themes">主题</a>' in theme
    empty = [t for t in ("work-safety", "commerce", "credit") if "暂无数据集" in index]
    assert empty and economy.status_code == 200
    text = bundled_client.get("/themes/commerce").text
    assert "该主题下尚未发布数据集" in text and "没有符合筛选条件" not in text
    filtered = bundled_client.get("/themes/transport?open_class=closed").text
    assert "没有符合筛选条件" in filtered or "No dataset matches" in filtered


def test_bundled_data_shows_its_real_publisher_as_demo_sample(bundled_client):
    text = bundled_client.get(f"/datasets/{FLIGHTS}").text
    assert "美国交通统计局" in text and "市交通运输委员会" not in text
    assert "本演示站的样例数据" in text and 'class="notice notice-demo"' in text
    assert "演示样例" in bundled_client.get("/datasets").text


def test_the_database_fallback_lists_tags_of_one_language(bundled_app):
    """While the search index is rebuilt, lists come from the catalog's own query: its tag facet
    follows the page's language too."""
    from portal.auth import ANONYMOUS
    from portal.catalog import service
    from portal.catalog.schemas import ListParams
    from portal.db import session_scope

    with bundled_app.app_context(), session_scope(bundled_app) as session:
        zh = service.list_datasets(session, ANONYMOUS, ListParams(tag_lang="zh"))
        en = service.list_datasets(session, ANONYMOUS, ListParams(tag_lang="en"))
    import json

    from tests.conftest import DATASETS

    descriptors = [json.loads(p.read_text(encoding="utf-8")) for p in DATASETS.glob("*/datapackage.json")]
    chinese = {t for d in descriptors for t in d["kaifang"]["tags_zh"]}
    english = {t for d in descriptors for t in d.get("keywords", [])}
    tags = lambda page: {v.key for f in page.facets if f.name == "tag" for v in f.values}  # noqa: E731
    assert tags(zh) and tags(zh) <= chinese
    assert tags(en) and tags(en) <= english and not tags(en) & (chinese - english)
