"""Vectorised matching, ranking and facet counts (`portal.search.ranking`) give what Whoosh gives,
and the index writer (`portal.search.writer`) writes what Whoosh's writer writes. No app: a
small generated index of several segments, with deleted and updated documents."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from whoosh import index as whoosh_index
from whoosh import sorting
from whoosh.query import And, Not, Or, Phrase, Prefix, Term

from portal.search.analysis import text_analyzer
from portal.search.lexicon import build_lexicon
from portal.search.query import QueryBuilder, facet_filters
from portal.search.schema import build_schema
from portal.search.synonyms import load_synonyms
from portal.search.writer import open_writer

WORDS = ["flights", "weather", "daily", "population", "crime", "rate", "airport", "holidays", "postcode",
         "航班", "天气", "人口", "邮政编码", "统计", "行政区划", "代码", "犯罪率", "节假日", "public", "records"]
THEMES, CLASSES, FORMATS = ["transport", "weather", "society"], ["open", "conditional"], ["csv", "json"]
QUERIES = ["flights", "weather daily", "航班", "天气", "邮编", "population OR crime", "crime NOT rate",
           "public holidays", "行政区划 代码", "zip code", "records"]


def _document(rng: random.Random, n: int) -> dict:
    words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    tags = sorted({rng.choice(WORDS) for _ in range(3)})
    return {
        "id": str(n), "slug": f"d-{n}", "title": words(4), "tags": "\n".join(tags), "description": words(25),
        "meta": words(3), "columns": words(8), "theme": rng.choice(THEMES), "department": f"dept-{n % 4}",
        "open_class": rng.choice(CLASSES), "format": rng.choice(FORMATS), "update_frequency": "daily",
        "tag": ",".join(tags), "published": "1" if n % 7 else "0", "department_id": str(n % 4),
        "updated": rng.randint(0, 10**9), "views": rng.randint(0, 50), "downloads": rng.randint(0, 5),
        "records": rng.randint(0, 100), "title_sort": words(2), "titles": ("", words(2), tags),
    }


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    rng = random.Random(3)
    ix = whoosh_index.create_in(str(tmp_path_factory.mktemp("ranking")), build_schema())
    for batch in range(3):  # three segments
        writer = open_writer(ix, timeout=1)
        for n in range(batch * 80, batch * 80 + 80):
            writer.add_document(**_document(rng, n))
        writer.commit(merge=False)
    writer = open_writer(ix, timeout=1)
    for n in range(0, 240, 9):
        writer.delete_by_term("id", str(n))
    for n in range(1, 240, 11):
        writer.update_document(**_document(rng, n))
    writer.commit(merge=False)
    return ix


@pytest.fixture(scope="module")
def searcher(index):
    with index.searcher() as found:
        assert len(found.leaf_searchers()) > 1
        yield found


@pytest.fixture(scope="module")
def lexicon(searcher):
    return build_lexicon(searcher.reader())


def _queries(searcher):
    builder = QueryBuilder(searcher.schema, load_synonyms(None, text_analyzer()))
    built = [builder.build(q, None) for q in QUERIES] + [builder.build("flights weather", None, any_word=True)]
    built += [Phrase("description", ["crime", "rate"]), Prefix("title", "pop"), And([Term("title", "flight"),
              Not(Term("tags", "weather"))]), Or([Term("title", "天气"), Term("tags", "天气")], boost=2.0)]
    return built


@pytest.mark.parametrize("sort", [None, ("views", True), ("title_sort", False), ("updated", True)])
@pytest.mark.parametrize("filters", [{}, {"theme": "transport"}, {"format": "csv", "open_class": "open"}])
def test_ranking_matches_whoosh(searcher, lexicon, sort, filters):
    arrays = lexicon.arrays
    visible = Or([Term("published", "1"), Term("department_id", "2")])
    for query in _queries(searcher):
        query = And([query, *facet_filters(filters)]) if filters else query
        facet = sorting.FieldFacet(sort[0], reverse=sort[1]) if sort else None
        expected = searcher.search(query, filter=visible, limit=None, sortedby=facet)
        ranked = arrays.search(searcher, query, filter_query=visible, sort=sort, limit=15)
        assert [int(d) for d in ranked.docnums] == [hit.docnum for hit in expected[:15]], query
        if sort is None:
            assert list(ranked.scores) == pytest.approx([hit.score for hit in expected[:15]]), query
        assert set(map(int, ranked.matched.nonzero()[0])) == {hit.docnum for hit in expected}, query


def test_facet_counts_are_those_of_the_matched_documents(searcher, lexicon):
    ranked = lexicon.arrays.search(searcher, Term("title", "flight"), limit=5)
    stored = {docnum: fields for docnum, fields in searcher.reader().iter_docs()}
    matched = [stored[int(d)] for d in ranked.matched.nonzero()[0]]
    assert matched and ranked.total == len(matched)
    for field in ("theme", "open_class", "format"):
        counts = Counter(fields[field] for fields in matched)
        assert lexicon.facets.counts(field, ranked.matched) == sorted(counts.items(), key=lambda vn: (-vn[1], vn[0]))
    tags = Counter(tag for fields in matched for tag in fields["titles"][2])
    assert dict(lexicon.facets.counts("tag", ranked.matched)) == dict(tags)


def test_the_writer_writes_what_whooshs_writer_writes(tmp_path):
    rng = random.Random(5)
    docs = [_document(rng, n) for n in range(120)]
    built = []
    from portal.search.schema import _fields as whoosh_schema  # Whoosh's own Positions format

    for name, schema, writer_of in (("whoosh", whoosh_schema(), lambda ix: ix.writer()),
                                    ("portal", build_schema(), lambda ix: open_writer(ix, timeout=1))):
        (tmp_path / name).mkdir()
        ix = whoosh_index.create_in(str(tmp_path / name), schema)
        writer = writer_of(ix)
        for doc in docs:
            writer.add_document(**doc)
        writer.commit()
        built.append(ix.reader())
    terms = list(built[0].all_terms())
    assert terms == list(built[1].all_terms())
    for field, text in terms:
        assert _postings(built[0], field, text) == _postings(built[1], field, text), (field, text)
    assert list(built[0].all_stored_fields()) == list(built[1].all_stored_fields())
    for field in ("title", "tags", "description", "meta", "columns", "pinyin"):
        assert [built[0].doc_field_length(n, field) for n in range(len(docs))] == \
            [built[1].doc_field_length(n, field) for n in range(len(docs))]


def _postings(reader, field, text):
    matcher, found = reader.postings(field, text), []
    while matcher.is_active():
        found.append((matcher.id(), matcher.weight(), matcher.value(), matcher.block_min_length(),
                      matcher.block_max_length()))
        matcher.next()
    return found


def test_a_rebuilt_index_is_another_index_even_at_the_same_generation(tmp_path):
    from portal.search.lexicon import index_key

    keys = []
    for name in ("before", "after"):  # the same documents, the same number of commits
        (tmp_path / name).mkdir()
        ix = whoosh_index.create_in(str(tmp_path / name), build_schema())
        writer = open_writer(ix, timeout=1)
        writer.add_document(**_document(random.Random(1), 1))
        writer.commit()
        keys.append(index_key(ix.reader()))
    assert keys[0][0] == keys[1][0]
    assert keys[0] != keys[1]
