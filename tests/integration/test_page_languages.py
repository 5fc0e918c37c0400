"""Every public page, rendered in both languages, holds no message left in the other script
(issue 13, item 4).

What is checked is the page's own text (the "chrome"): text nodes of <body> and the attributes
people read (aria-label, title, placeholder, alt). Dataset content is not chrome: templates mark
it `translate="no"` (values, column names, tags, sources) or with its own `lang` (the title in the
other language, an English licence attribution), and those subtrees are skipped, as are <code>,
<pre>, <script> and decorative `aria-hidden` marks; a menu option labelled with its own value
(a column name) is a value too.

- An English page fails on any Han character.
- A Chinese page fails on a text with English words and no Chinese at all: a message that was
  never translated (a text that mixes both, like "origin 的运算符", is a translated message
  around a value). Acronyms and format names (CSV, API, UTC…) are not English words here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"(?<![\w@./-])[A-Za-z][a-z]{2,}(?![\w@./-])")
NOT_WORDS = {"Kaifang", "Excel", "Python", "Parquet", "GeoJSON", "NDJSON", "Package", "Data", "curl", "Vega",
             "requests", "import", "params", "size", "page", "rows", "json", "Atom", "Lite", "Mark"}
DELIBERATE = {"行政区划"}  # the English search box's example of a Chinese query
SKIP_TAGS = {"script", "style", "code", "pre", "head", "svg", "datalist"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
READ_ATTRS = ("aria-label", "title", "placeholder", "alt")


class Chrome(HTMLParser):
    """The texts of a page outside its content and code."""

    def __init__(self, page_lang: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_lang, self.stack, self.texts, self.option_value = page_lang, [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.option_value = attrs.get("value") if tag == "option" else None
        lang = (attrs.get("lang") or "").split("-")[0]
        skipped = (tag in SKIP_TAGS or attrs.get("translate") == "no" or attrs.get("aria-hidden") == "true"
                   or (lang and lang != self.page_lang))
        if not self._skipping() and not skipped:
            self.texts += [attrs[a] for a in READ_ATTRS if attrs.get(a)]
            if tag in ("input", "button") and attrs.get("type") in ("submit", "button") and attrs.get("value"):
                self.texts.append(attrs["value"])
        if tag not in VOID:
            self.stack.append((tag, skipped))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "option" and data.strip() == self.option_value:
            return  # a menu of raw values (column names): its labels are the values themselves
        if data.strip() and not self._skipping():
            self.texts.append(data.strip())

    def _skipping(self) -> bool:
        return any(skipped for _, skipped in self.stack)


def wrong_script(html: str, page_lang: str) -> list[str]:
    parser = Chrome(page_lang)
    parser.feed(html)
    if page_lang == "en":
        return [t for t in parser.texts if HAN.search(t) and not any(d in t for d in DELIBERATE)]
    return [t for t in parser.texts if not HAN.search(t) and set(WORD.findall(t)) - NOT_WORDS]


def public_paths(app) -> list[str]:
    from portal.catalog.themes import THEMES
    from tests.conftest import DATASETS

    slugs = sorted(p.name for p in DATASETS.iterdir() if (p / "datapackage.json").exists())
    with app.test_client() as client:
        departments = [d["key"] for d in client.get("/api/v1/departments").json if d["count"]]
    return (["/", "/datasets", "/themes", "/about", "/licence", "/search?q=flights", "/search?q=zzzzqqq",
             "/datasets?page=2", "/datasets?tag=airports", "/login", "/register", "/password/forgot",
             "/developers/api", "/developers/problems/rows-not-open", "/datasets/nope", "/datasets?page=abc", "/datasets/clinic-visits-synthetic/download/csv",
             "/datasets/nyc-flights-2013?dep_delay__gt=abc&page=99999"]
            + [f"/datasets/{s}" for s in slugs] + [f"/themes/{code}" for code, _, _ in THEMES]
            + [f"/departments/{d}" for d in departments])


@pytest.mark.parametrize("locale, lang", [("zh_CN", "zh"), ("en", "en")])
def test_no_message_left_in_the_other_script(bundled_app, locale, lang):
    client = bundled_app.test_client()
    client.get(f"/locale/{locale}")
    paths = public_paths(bundled_app)
    assert len(paths) > 60
    found = {}
    for path in paths:
        response = client.get(path)
        assert response.mimetype == "text/html", path
        bad = wrong_script(response.text, lang)
        if bad:
            found[path] = bad[:5]
    assert not found, found


def test_the_check_catches_what_it_should():
    assert wrong_script('<html><body><p>1 datasets</p></body></html>', "zh") == ["1 datasets"]
    assert wrong_script('<html><body><p>数据集</p></body></html>', "en") == ["数据集"]
    assert not wrong_script('<html><body><p translate="no">New York flights</p><code>sort=-x</code>'
                            '<span lang="zh-CN">中文</span><p>CSV · API</p></body></html>', "zh")
    assert not wrong_script('<html><body><p lang="zh-CN">中文</p><i aria-hidden="true">开</i></body></html>', "en")
