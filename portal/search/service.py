"""Search services shared by the search page, the dataset/theme/department lists, the JSON API.

The index proposes document ids; the catalog's visibility query then loads the summaries, so a
stale or damaged index can never show a dataset its viewer may not see. While the index is
being rebuilt, the catalog's database filter answers instead, with a notice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from whoosh.query import And, Query
from whoosh.query.qcore import QueryError
from whoosh.searching import Searcher

from portal.auth import Actor
from portal.catalog import service as catalog
from portal.catalog.models import Dataset
from portal.catalog.queries import visible_datasets
from portal.catalog.schemas import LIST_SORTS, DatasetPage, Facet, ListParams, Named
from portal.search.analysis import has_cjk
from portal.search.engine import SearchEngine, engine_of
from portal.search.lexicon import Lexicon
from portal.search.query import TEXT_FIELDS, clean, facet_filters, has_operators, visibility_filter
from portal.search.ranking import DocArrays
from portal.search.schemas import SearchHit, SearchPage, SearchParams, Suggestion
from portal.search.snippets import snippet
from portal.search.spelling import correct

FEW_RESULTS = 3
SORT_FIELDS = {"updated": ("updated", True), "views": ("views", True), "downloads": ("downloads", True),
               "records": ("records", True), "title": ("title_sort", False)}
FACET_ORDER = ("theme", "department", "open_class", "format", "tag", "update_frequency")
TAG_FACET_SIZE = 20
LIST_FACETS = ("theme", "department", "open_class", "format", "tag")  # those of catalog.list_datasets


@dataclass(frozen=True)
class _Run:
    text: str
    any_word: bool
    hits: list[tuple[int, float | None]]
    total: int
    matched: np.ndarray  # mask over the index's document numbers
    terms: frozenset[str]


def search_datasets(session: Session, actor: Actor, params: SearchParams, *, retry_corrected: bool = True) -> SearchPage:
    """One page of the datasets the actor may see that match `params`, ranked, with facets
    and a 'did you mean' suggestion when the query finds little (and, with `retry_corrected`, the
    suggestion's results when the query finds nothing)."""
    engine = engine_of(session)
    searcher = engine.searcher() if engine else None
    if searcher is None:
        return _fallback(session, actor, params)
    lexicon = engine.lexicon(searcher)
    cleaned = clean(params.q)
    run = _best_run(engine, searcher, lexicon, actor, params, cleaned.text)
    suggestion = None
    if cleaned.text and run.total < FEW_RESULTS:
        suggestion = correct(cleaned.text, searcher, lexicon.vocabulary, engine.builder.synonyms)
    corrected_from = None
    if retry_corrected and run.total == 0 and suggestion:
        retry = _best_run(engine, searcher, lexicon, actor, params, suggestion)
        if retry.total:
            run, corrected_from = retry, params.q
    return _page(session, actor, params, run, lexicon, suggestion=suggestion, corrected_from=corrected_from,
                 notices=("query-shortened",) if cleaned.truncated else ())


def search_listing(session: Session, actor: Actor, params: SearchParams) -> DatasetPage:
    """The catalog list's shape of a search (API `/datasets?q=`): summaries in rank order and
    the list's facets. A listing answers for the query it was given, so a query that finds
    nothing is not replaced by its correction (`/search` offers that, with a notice)."""
    page = search_datasets(session, actor, params, retry_corrected=False)
    return DatasetPage(items=tuple(hit.summary for hit in page.items), total=page.total, page=page.page,
                       pages=page.pages, facets=tuple(f for f in page.facets if f.name in LIST_FACETS))


def ranked_ids(session: Session, actor: Actor, text: str) -> list[int] | None:
    """The ids of every dataset the actor may see that `text` matches, best first (CKAN's
    `package_search` through `matching_slugs`); None while the index is away."""
    engine = engine_of(session)
    searcher = engine.searcher() if engine else None
    if searcher is None:
        return None
    everything = SearchParams(q=text, sort="relevance", per_page=max(1, searcher.doc_count_all()))
    run = _best_run(engine, searcher, engine.lexicon(searcher), actor, everything, clean(text).text)
    return [dataset_id for dataset_id, _ in run.hits]


def suggest(session: Session, actor: Actor, text: str, *, limit: int = 8) -> tuple[Suggestion, ...]:  # noqa: ARG001
    """Completions for the search box: published titles and tags by prefix, pinyin or initials.

    Drafts are never offered, whoever asks, so the structure can be shared by every viewer.
    """
    engine = engine_of(session)
    searcher = engine.searcher() if engine else None
    if searcher is None or not text.strip():
        return ()
    found = engine.lexicon(searcher).autocomplete.complete(clean(text).text[:60], limit=limit)
    return tuple(Suggestion(c.label, c.kind, c.slug, c.label) for c in found)


def _best_run(engine: SearchEngine, searcher: Searcher, lexicon: Lexicon, actor: Actor,
              params: SearchParams, text: str) -> _Run:
    run = _run(engine, searcher, lexicon, actor, params, text, any_word=False)
    if run.total == 0 and (len(text.split()) > 1 or has_cjk(text)) and not has_operators(text):
        return _run(engine, searcher, lexicon, actor, params, text, any_word=True)
    return run


def _run(engine: SearchEngine, searcher: Searcher, lexicon: Lexicon, actor: Actor, params: SearchParams,
         text: str, *, any_word: bool) -> _Run:
    query = engine.builder.build(text, lexicon.vocabulary, any_word=any_word)
    try:
        return _execute(searcher, lexicon.arrays, actor, params, text, query, any_word=any_word)
    except QueryError:  # a valid parse Whoosh cannot run (e.g. a phrase on a field without positions)
        return _execute(searcher, lexicon.arrays, actor, params, text, engine.builder.words_only(text),
                        any_word=any_word)


def _execute(searcher: Searcher, arrays: DocArrays, actor: Actor, params: SearchParams, text: str,
             query: Query, *, any_word: bool) -> _Run:
    query = And([query, *facet_filters(params.filters)]) if params.filters else query
    end = params.page * params.per_page
    sort = SORT_FIELDS.get(params.effective_sort)
    ranked = arrays.search(searcher, query, filter_query=visibility_filter(actor), sort=sort, limit=max(end, 1))
    page = slice(end - params.per_page, end)
    hits = [(int(arrays.dataset_ids[doc]), None if sort else float(score))
            for doc, score in zip(ranked.docnums[page], ranked.scores[page], strict=True)]
    return _Run(text, any_word, hits, ranked.total, ranked.matched, _text_terms(query, searcher))


def _text_terms(query: Query, searcher: Searcher) -> frozenset[str]:
    terms = query.existing_terms(searcher.reader(), expand=True)
    return frozenset(t.decode() if isinstance(t, bytes) else t for f, t in terms if f in TEXT_FIELDS)


def _page(session: Session, actor: Actor, params: SearchParams, run: _Run, lexicon: Lexicon, *,
          suggestion: str | None, corrected_from: str | None, notices: tuple[str, ...]) -> SearchPage:
    summaries = catalog.summaries_by_id(session, actor, [i for i, _ in run.hits])
    items = tuple(SearchHit(summaries[i], score, snippet(summaries[i].description_zh, run.terms),
                            snippet(summaries[i].description_en, run.terms))
                  for i, score in run.hits if i in summaries)
    return SearchPage(items=items, total=run.total, page=params.page,
                      pages=max(1, math.ceil(run.total / params.per_page)),
                      facets=_facets(session, lexicon, run.matched, tag_lang=params.tag_lang), suggestion=suggestion,
                      corrected_from=corrected_from, any_word=run.any_word, notices=notices)


def _facets(session: Session, lexicon: Lexicon, matched: np.ndarray, *, tag_lang: str | None = None) -> tuple[Facet, ...]:
    names = catalog.facet_names(session)
    facets = []
    for field in FACET_ORDER:
        counts = lexicon.facets.counts(field, matched)
        labels = names.get(field, {})
        if field == "tag":
            if tag_lang:
                counts = [(key, n) for key, n in counts
                          if key in labels and getattr(labels[key], f"name_{tag_lang}")]
            counts = counts[:TAG_FACET_SIZE]
        values = tuple(Named(key, labels[key].name_zh, labels[key].name_en, n) if key in labels
                       else Named(key, key, key, n) for key, n in counts)
        facets.append(Facet(field, values))
    return tuple(facets)


def _fallback(session: Session, actor: Actor, params: SearchParams) -> SearchPage:
    """The catalog's database filter (LIKE over titles and descriptions) while the index is away."""
    sort = params.effective_sort if params.effective_sort in LIST_SORTS else "updated"
    listed = catalog.list_datasets(session, actor, ListParams(
        theme=params.theme, department=params.department, open_class=params.open_class, format=params.format,
        tag=params.tag, q=params.q.strip()[:100] or None, sort=sort, page=params.page, per_page=params.per_page,
        tag_lang=params.tag_lang))
    items = tuple(SearchHit(s, None, _plain(s.description_zh), _plain(s.description_en)) for s in listed.items)
    return SearchPage(items=items, total=listed.total, page=listed.page, pages=listed.pages, facets=listed.facets,
                      notices=("index-rebuilding",))


def _plain(text: str) -> Markup:
    return escape(text[:150] + ("…" if len(text) > 150 else ""))


def matching_slugs(session: Session, actor: Actor, q: str) -> tuple[str, ...]:
    """The visible datasets a free-text query matches, best first, as the site's search ranks
    them (Chinese, pinyin, synonyms, BM25F): CKAN's `package_search`.

    While the index is being rebuilt, the catalog list's title/description filter answers
    instead (plain text match, newest change first), as on the site's pages.
    """
    ranked = ranked_ids(session, actor, q)
    if ranked is None:
        query = catalog._filtered(visible_datasets(actor), ListParams(q=q.strip()[:100] or None))
        return tuple(session.scalars(query.with_only_columns(Dataset.slug)
                                     .order_by(Dataset.updated_at.desc(), Dataset.id.desc())))
    slugs = dict(session.execute(visible_datasets(actor).with_only_columns(Dataset.id, Dataset.slug)
                                 .where(Dataset.id.in_(ranked))).all())
    return tuple(slugs[i] for i in ranked if i in slugs)
