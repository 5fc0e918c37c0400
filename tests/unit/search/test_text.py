"""Text analysis, query cleaning, pinyin splitting, synonyms and the corrector, without an app."""

from __future__ import annotations

import pytest

from portal.search.analysis import initials, pinyin, pinyin_terms, simplified, text_analyzer
from portal.search.corrector import Corrector, edit_distance
from portal.search.query import MAX_QUERY_CHARS, clean, has_operators, split_pinyin
from portal.search.synonyms import DEFAULT_FILE, load_synonyms, parse_lines

ANALYZER = text_analyzer()


def terms(text, mode="index"):
    return [t.text for t in ANALYZER(text, mode=mode)]


def test_chinese_is_segmented_with_the_short_words_inside_long_ones():
    assert {"纽约", "航班"} <= set(terms("2013年纽约航班"))
    assert {"行政区划", "区划", "代码"} <= set(terms("全国县级以上行政区划代码"))
    assert terms("行政区划代码", mode="query") == ["行政区划", "代码"]


def test_english_is_stemmed_and_stop_words_dropped():
    assert terms("The flights of NYC data") == ["flight", "nyc"]
    assert terms("dep_delay") == ["dep", "delai"]


def test_traditional_becomes_simplified():
    assert simplified("飛機氣象") == "飞机气象"
    assert terms("飛機", mode="query") == terms("飞机", mode="query")


def test_pinyin():
    assert pinyin("天气") == "tianqi" and initials("天气") == "tq"
    assert {"hangban", "niuyue"} <= set(pinyin_terms("2013年纽约航班"))


@pytest.mark.parametrize("letters,expected", [("hangban", ["hangban"]), ("niuyuehangban", ["niuyue", "hangban"]),
                                              ("hangbanx", None), ("", None)])
def test_split_pinyin(letters, expected):
    assert split_pinyin(letters, frozenset({"hangban", "niuyue", "hang", "ban"})) == expected


@pytest.mark.parametrize("raw,expected", [
    ('"flights', "flights"), ("(a OR b", "(a OR b)"), ("a) b", "a b"), ("foo:bar", "foo bar"),
    ("theme:weather", "theme:weather"), ("class:open", "open_class:open"), ("a\x00b\x1bc", "a b c"),
    ("[1 TO 5]", "1 TO 5"), ("((( )))", ""), ("*", ""),
])
def test_clean(raw, expected):
    assert clean(raw).text == expected


def test_clean_cuts_long_queries():
    cleaned = clean("航班 " * 3000)
    assert cleaned.truncated and len(cleaned.text) <= MAX_QUERY_CHARS


def test_operators_are_recognised():
    assert has_operators("a NOT b") and has_operators('"a b"') and has_operators("temp*")
    assert not has_operators("flight delays") and not has_operators("纽约 航班")


def test_synonym_file_parses_and_groups_members():
    synonyms = load_synonyms(DEFAULT_FILE, ANALYZER)
    assert ("航班",) in synonyms.alternatives("飞机") and ("flight",) in synonyms.alternatives("飞机")
    assert ("postal", "code") in synonyms.alternatives("邮编")
    assert synonyms.rewrite("China zip code list") == "China 邮编 list"
    assert parse_lines(["# comment", "", "a，b, c", "lonely"]) == [["a", "b", "c"]]


def test_a_city_can_extend_the_synonyms(tmp_path):
    own = tmp_path / "synonyms.txt"
    own.write_text("地铁, 轨道交通, metro, subway\n", encoding="utf-8")
    synonyms = load_synonyms(own, ANALYZER)
    assert ("subwai",) in synonyms.alternatives("地铁") or ("subway",) in synonyms.alternatives("地铁")


def test_corrector():
    corrector = Corrector({"flights": 5, "earthquake": 2, "districts": 1, "weather": 4})
    assert corrector.suggest("fligths") == "flights"
    assert corrector.suggest("earthqake") == "earthquake"
    assert corrector.suggest("distrcts") == "districts"
    assert corrector.suggest("zzzz") is None
    assert edit_distance("abcd", "abdc", 2) == 1


@pytest.mark.parametrize("options", [
    {"mode": "index", "positions": True, "chars": True},
    {"mode": "query", "positions": True},
    {"mode": "query", "removestops": False, "positions": True, "chars": True},
    {"mode": "query", "tokenize": False},
    {"mode": "query", "tokenize": False, "removestops": False},
    {"mode": "index", "no_morph": True, "positions": True},
    {"mode": "index", "keeporiginal": True, "start_pos": 5, "start_char": 3, "positions": True, "chars": True},
])
def test_the_one_pass_analyzer_gives_the_tokens_of_the_filter_chain(options):
    from portal.search.analysis import composed_text_analyzer

    texts = ["The flights of NYC data, dep_delay and 2013", "全国县级以上行政区划代码的数据", "的", "data",
             "Seattle 逐日天气 weather records of the city", "飛機 航班 postal code", "", "running ran runs"]
    fields = ("text", "pos", "startchar", "endchar", "stopped", "original")
    for text in texts:
        expected = [tuple(getattr(t, f, None) for f in fields) for t in composed_text_analyzer()(text, **options)]
        assert [tuple(getattr(t, f, None) for f in fields) for t in ANALYZER(text, **options)] == expected, text


def test_the_fast_index_format_writes_the_postings_of_whoosh_positions():
    from whoosh.formats import Positions

    from portal.search.formats import IndexPositions

    texts = ["The flights of NYC data, dep_delay and 2013 flights flights", "全国县级以上行政区划代码的数据",
             "的", "data", "Seattle 逐日天气 weather records of the city weather", "飛機 航班 postal code", "",
             "running ran runs " * 7, "of the 数据 the and a flights"]
    for boost in (1.0, 8.0):
        for text in texts:
            fast = sorted(IndexPositions(field_boost=boost).word_values(text, ANALYZER, mode="index"))
            slow = sorted(Positions(field_boost=boost).word_values(text, ANALYZER, mode="index"))
            assert fast == slow, text


def test_spelling_words_are_the_plain_english_words_of_the_spelling_analyzer():
    from portal.search.analysis import spelling_analyzer, spelling_words

    texts = ["The flights of NYC data, dep_delay and 2013", "Xi'an café naïve running runs", "全国县级以上行政区划代码abc数据",
             "Seattle 逐日天气 weather records of the city", "an of the and", "", "ÉCOLE école Weather-Station 42nd"]
    for text in texts:
        expected = [t.text for t in spelling_analyzer()(text) if t.text.isascii() and t.text.isalpha()]
        assert spelling_words(text) == expected, text
