"""Matching, BM25F ranking and facet counting over numpy arrays, one posting list at a time.

Whoosh walks a query tree document by document in Python: at 20,000 records a word widened to
five fields and its synonyms visits thousands of documents through dozens of matchers (150+ ms).
Here the same tree is evaluated a posting list at a time: each term is a (document numbers,
weights) pair read once per index generation, a compound is a mask and a score vector. Scores
are Whoosh's own — BM25F with the searcher's B and K1 and the index's field boosts, times the
query's boosts, a compound scoring the sum of its parts, ties broken by document number — so the
order is the one `Searcher.search` gives. Terms, And, Or and Every are vectorised; any other node
(phrases, prefixes, NOT, ...) is matched by Whoosh's own matcher and its scores are taken from it.

The arrays belong to one reader generation (`lexicon.Lexicon` owns them). Nothing here writes
the index; the posting reader relies on whoosh-reloaded 2.7's block layout (pinned `<3`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, W3PerDocReader
from whoosh.matching.wrappers import WrappingMatcher
from whoosh.query import And, Every, NullQuery, Or, Query, Term
from whoosh.reading import IndexReader, TermNotFound
from whoosh.scoring import BM25F
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

POSTINGS_CACHED = 20_000  # (field, term) posting lists kept per generation
_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float64))
Matches = tuple[np.ndarray, np.ndarray]  # (bool mask, float scores), both of the index's size


@dataclass(frozen=True)
class Ranked:
    """The documents a query matched: the best `limit` in order, and the mask of all of them."""

    docnums: np.ndarray
    scores: np.ndarray
    matched: np.ndarray

    @property
    def total(self) -> int:
        return int(np.count_nonzero(self.matched))


class DocArrays:
    """Per-generation arrays: live documents, field lengths, sort keys and posting lists."""

    def __init__(self, reader: IndexReader, dataset_ids: dict[int, int]):
        self.size = reader.doc_count_all()
        self.live = np.zeros(self.size, bool)
        self.live[np.fromiter(reader.all_doc_ids(), np.int64)] = True
        self.dataset_ids = np.full(self.size, -1, np.int64)  # document number → dataset id
        if dataset_ids:
            self.dataset_ids[np.fromiter(dataset_ids, np.int64)] = np.fromiter(dataset_ids.values(), np.int64)
        self._postings: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray]] = {}
        self._lengths: dict[str, np.ndarray] = {}
        self._sort_keys: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # ---- ranking ------------------------------------------------------------------------

    def search(self, searcher: Searcher, query: Query, *, filter_query: Query | None = None,
               sort: tuple[str, bool] | None = None, limit: int = 20) -> Ranked:
        """The matches of `query` within `filter_query`, by score (or by the sort column), best first."""
        matched, scores = self.evaluate(searcher, query)
        matched = matched & self.live
        if filter_query is not None:
            matched &= self.evaluate(searcher, filter_query)[0]
        docs = np.flatnonzero(matched)
        keys = self._ordering_keys(searcher, sort, scores, docs)
        if 0 < limit < len(docs):  # keep the best `limit` (and everything tied with the last)
            cut = np.partition(keys, limit - 1)[limit - 1]
            keep = keys <= cut
            docs, keys = docs[keep], keys[keep]
        order = np.lexsort((docs, keys))[:max(limit, 0)]
        top = docs[order]
        return Ranked(top, scores[top], matched)

    def _ordering_keys(self, searcher: Searcher, sort: tuple[str, bool] | None, scores: np.ndarray,
                       docs: np.ndarray) -> np.ndarray:
        if sort is None:
            return -scores[docs]
        field, reverse = sort
        keys = self._sort_key(searcher, field)[docs]
        return -keys if reverse else keys

    def _sort_key(self, searcher: Searcher, field: str) -> np.ndarray:
        """The rank of every document's value in a sortable column (its order, as integers)."""
        found = self._sort_keys.get(field)
        if found is None:
            values = np.array(list(searcher.reader().column_reader(field)))
            found = np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)
            self._sort_keys[field] = found
        return found

    # ---- matching -----------------------------------------------------------------------

    def evaluate(self, searcher: Searcher, query: Query) -> Matches:
        """The mask of documents `query` matches and their Whoosh scores (meaningless outside the mask)."""
        kind = type(query)
        if kind is Term:
            return self._term(searcher, query)
        if kind in (And, Or) and not getattr(query, "scale", None):
            return self._compound(searcher, query)
        if kind is Every and query.fieldname in (None, "", "*"):
            return self.live.copy(), np.full(self.size, float(query.boost))
        if query is NullQuery:
            return np.zeros(self.size, bool), np.zeros(self.size)
        return self._by_whoosh(searcher, query)

    def _compound(self, searcher: Searcher, query: And | Or) -> Matches:
        subs = query.subqueries
        if not subs:
            return np.zeros(self.size, bool), np.zeros(self.size)
        if len(subs) == 1:  # Whoosh uses the child's matcher as it is, boost and all
            return self.evaluate(searcher, subs[0])
        mask, scores = self.evaluate(searcher, subs[0])
        combine = np.logical_and if type(query) is And else np.logical_or
        for sub in subs[1:]:
            sub_mask, sub_scores = self.evaluate(searcher, sub)
            mask = combine(mask, sub_mask)
            scores = scores + np.where(sub_mask, sub_scores, 0.0)
        scores = np.where(mask, scores, 0.0)
        return mask, scores * query.boost if query.boost != 1.0 else scores

    def _term(self, searcher: Searcher, term: Term) -> Matches:
        mask, scores = np.zeros(self.size, bool), np.zeros(self.size)
        schema = searcher.schema
        if term.fieldname not in schema:
            return mask, scores
        field = schema[term.fieldname]
        try:
            text = field.to_bytes(term.text)
        except ValueError:
            return mask, scores
        docs, weights = self.postings(searcher.reader(), term.fieldname, text)
        if not len(docs):
            return mask, scores
        mask[docs] = True
        scores[docs] = self._bm25(searcher, term.fieldname, text, docs, weights) * term.boost
        return mask, scores

    def _bm25(self, searcher: Searcher, fieldname: str, text: bytes, docs: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
        weighting = searcher.weighting
        if not searcher.schema[fieldname].scorable:
            return weights  # Whoosh's WeightScorer
        if not isinstance(weighting, BM25F):
            raise TypeError(f"vectorised ranking implements BM25F only, not {type(weighting).__name__}")
        b = weighting._field_B.get(fieldname, weighting.B)  # noqa: SLF001 - per-field B as BM25F keeps it
        k1 = weighting.K1
        idf = searcher.idf(fieldname, text)
        avgfl = searcher.avg_field_length(fieldname) or 1
        lengths = self._field_lengths(searcher, fieldname)[docs]
        return idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * lengths / avgfl)))

    def _by_whoosh(self, searcher: Searcher, query: Query) -> Matches:
        """Any other node, matched and scored by Whoosh itself (exact, slower per document)."""
        docs, values = [], []
        for leaf, offset in searcher.leaf_searchers():
            matcher = query.matcher(leaf)
            while matcher.is_active():
                docs.append(matcher.id() + offset)
                values.append(matcher.score())
                matcher.next()
        mask, scores = np.zeros(self.size, bool), np.zeros(self.size)
        if docs:
            index = np.asarray(docs, np.int64)
            mask[index], scores[index] = True, values
        return mask, scores

    # ---- per-generation caches ----------------------------------------------------------

    def postings(self, reader: IndexReader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Document numbers and stored weights of one term (deleted documents included)."""
        key = (fieldname, text)
        found = self._postings.get(key)
        if found is None:
            found = _read_postings(reader, fieldname, text)
            with self._lock:
                if len(self._postings) >= POSTINGS_CACHED:
                    self._postings.clear()
                self._postings[key] = found
        return found

    def _field_lengths(self, searcher: Searcher, fieldname: str) -> np.ndarray:
        found = self._lengths.get(fieldname)
        if found is None:
            found = np.ones(self.size)
            for leaf, offset in searcher.reader().leaf_readers():
                lengths = _leaf_lengths(leaf, fieldname)
                found[offset:offset + len(lengths)] = lengths
            self._lengths[fieldname] = found
        return found


_BYTE_LENGTHS = np.array([byte_to_length(b) or 1 for b in range(256)], np.float64)


def _leaf_lengths(leaf: IndexReader, fieldname: str) -> np.ndarray:
    """One segment's field lengths as Whoosh's scorer sees them (the one-byte approximation, 1 for none)."""
    perdoc = getattr(leaf, "_perdoc", None)
    column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN) if isinstance(perdoc, W3PerDocReader) else None  # noqa: SLF001 - the column the scorer reads
    if column is None:
        return np.fromiter((leaf.doc_field_length(d, fieldname, 1) or 1 for d in range(leaf.doc_count_all())),
                           np.float64, leaf.doc_count_all())
    return _BYTE_LENGTHS[np.fromiter(column, np.uint8, leaf.doc_count_all())]


def _read_postings(reader: IndexReader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray]:
    docs, weights = [], []
    for leaf, offset in reader.leaf_readers():
        if (fieldname, text) not in leaf:
            continue
        try:
            matcher = leaf.postings(fieldname, text)
        except TermNotFound:
            continue
        while isinstance(matcher, WrappingMatcher):  # deletions are masked by `DocArrays.live`
            matcher = matcher.child
        ids, ws = _blocks(matcher) if isinstance(matcher, W3LeafMatcher) else _one_by_one(matcher)
        docs.append(np.asarray(ids, np.int64) + offset)
        weights.append(np.asarray(ws, np.float64))
    if not docs:
        return _EMPTY
    return np.concatenate(docs), np.concatenate(weights)


def _blocks(matcher: W3LeafMatcher) -> tuple[list, list]:
    """A whole posting list, a block (up to 128 postings) at a time."""
    ids, weights = [], []
    while matcher.is_active():
        matcher._read_ids()  # noqa: SLF001 - the block arrays, not one posting per call
        matcher._read_weights()  # noqa: SLF001
        ids.extend(matcher._ids)  # noqa: SLF001
        weights.extend(matcher._weights)  # noqa: SLF001
        matcher._next_block()  # noqa: SLF001
    return ids, weights


def _one_by_one(matcher) -> tuple[list, list]:
    ids, weights = [], []
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        matcher.next()
    return ids, weights


class FacetCounts:
    """Every facet value's documents as two parallel arrays; a count is one `bincount`."""

    def __init__(self, reader: IndexReader, fields: Iterable[str]):
        self.fields: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
        live = np.zeros(reader.doc_count_all(), bool)
        live[np.fromiter(reader.all_doc_ids(), np.int64)] = True
        for field in fields:
            values, docs, codes = [], [], []
            for code, term in enumerate(reader.field_terms(field)):
                found, _ = _read_postings(reader, field, reader.schema[field].to_bytes(term))
                values.append(term)
                docs.append(found[live[found]])
                codes.append(np.full(len(docs[-1]), code, np.int64))
            joined = (np.concatenate(docs), np.concatenate(codes)) if docs else (_EMPTY[0], _EMPTY[0])
            self.fields[field] = (values, *joined)

    def counts(self, field: str, matched: np.ndarray) -> list[tuple[str, int]]:
        """(value, count) within the matched documents, most frequent first, zeros left out."""
        values, docs, codes = self.fields[field]
        tally = np.bincount(codes[matched[docs]], minlength=len(values)) if len(values) else codes
        found = [(values[i], int(tally[i])) for i in np.flatnonzero(tally)]
        return sorted(found, key=lambda vn: (-vn[1], vn[0]))
