"""Search endpoints of API v1, declared with `spec.endpoint` (scope, parameters checked by their
pydantic model, documented in the OpenAPI document) and answered by the same service as the
search page, so the API ranks exactly as the site does."""

from __future__ import annotations

from flask import current_app

from portal.api.http import json_response
from portal.api.schemas import (
    Completion,
    Completions,
    FacetCount,
    SearchQuery,
    SearchResult,
    SearchResults,
    Snippet,
    SuggestQuery,
)
from portal.api.spec import endpoint
from portal.auth import current_actor
from portal.db import get_session
from portal.search import service
from portal.search.schemas import SearchHit, SearchPage, SearchParams

SUGGEST_LIMIT = 10
SUGGEST_CHARS = 100
CATALOG = "catalog:read"


@endpoint("/search", tag="search", scope=CATALOG, query=SearchQuery, response=SearchResults)
def search(params: SearchQuery):
    """Search datasets, ranked, with facet counts and 'did you mean'.

    `q` takes words in Chinese, English or pinyin, phrases, prefixes, `AND`/`OR`/`NOT` and
    `field:value`; facet parameters narrow the results and combine with each other and with `q`.
    """
    given = {k: str(v) for k, v in params.model_dump(exclude_none=True, exclude={"size"}).items()}
    parsed = SearchParams.parse(given, per_page=params.size or current_app.config["LIST_PAGE_SIZE"])
    page = service.search_datasets(get_session(), current_actor(), parsed)
    return json_response(results_of(parsed, page), SearchResults)


@endpoint("/search/suggest", tag="search", scope=CATALOG, query=SuggestQuery, response=Completions)
def search_suggest(params: SuggestQuery):
    """Completions for a search box: titles and tags by prefix, pinyin or pinyin initials.

    Only published datasets are offered, whoever asks.
    """
    text = params.q[:SUGGEST_CHARS]
    found = service.suggest(get_session(), current_actor(), text, limit=SUGGEST_LIMIT)
    return json_response(Completions(query=text, suggestions=[
        Completion(label=s.label, kind=s.kind, slug=s.slug) for s in found]), Completions)


def results_of(params: SearchParams, page: SearchPage) -> SearchResults:
    """The API's shape of a result page."""
    return SearchResults(
        query=params.q, sort=params.effective_sort, total=page.total, page=page.page, pages=page.pages,
        suggestion=page.suggestion, corrected_from=page.corrected_from, any_word=page.any_word,
        notices=list(page.notices), results=[_result(h) for h in page.items],
        facets={f.name: [FacetCount(key=v.key, name_zh=v.name_zh, name_en=v.name_en, count=v.count)
                         for v in f.values] for f in page.facets})


def _result(hit: SearchHit) -> SearchResult:
    s = hit.summary
    return SearchResult(
        slug=s.slug, title_zh=s.title_zh, title_en=s.title_en,
        snippet=Snippet(zh=str(hit.snippet_zh), en=str(hit.snippet_en)),
        theme=s.theme.key, department=s.department.key, open_class=s.open_class, format=s.source_format,
        tags=list(s.tags), updated_at=s.updated_at, view_count=s.view_count, download_count=s.download_count,
        score=None if hit.score is None else round(hit.score, 4))
