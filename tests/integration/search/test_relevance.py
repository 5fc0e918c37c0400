"""Relevance over the bundled catalog: the queries of `relevance_cases` (zh, en, pinyin, typos,
synonyms, traditional characters, two-word queries) must put an expected dataset in the top 3
for at least 90 % of them. The test prints the hit rate and every miss."""

from __future__ import annotations

from collections import Counter

from portal.auth import ANONYMOUS
from portal.db import session_scope
from portal.search.schemas import SearchParams
from portal.search.service import search_datasets
from tests.integration.search.relevance_cases import CASES

REQUIRED_HIT_RATE = 0.90


def test_cases_cover_every_kind_of_query():
    kinds = Counter(kind for kind, _, _ in CASES)
    assert len(CASES) >= 60
    assert {"zh", "en", "pinyin", "typo", "synonym", "two-word", "traditional"} <= set(kinds)


def test_top3_hit_rate(bundled_app, capsys):
    misses = []
    with bundled_app.app_context(), session_scope(bundled_app) as session:
        for kind, query, expected in CASES:
            page = search_datasets(session, ANONYMOUS, SearchParams(q=query))
            top = [hit.summary.slug for hit in page.items[:3]]
            if not set(expected) & set(top):
                misses.append(f"  {kind:<11} {query!r}: got {top}, wanted one of {list(expected)}")
    rate = 1 - len(misses) / len(CASES)
    with capsys.disabled():
        print(f"\nsearch relevance: {len(CASES) - len(misses)}/{len(CASES)} queries with an expected "
              f"dataset in the top 3 ({rate:.1%})" + ("\n" + "\n".join(misses) if misses else ""))
    assert rate >= REQUIRED_HIT_RATE, "\n".join(misses)
