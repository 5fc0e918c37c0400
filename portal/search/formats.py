"""The posting format of the full-text fields: Whoosh's `Positions`, built faster at index time.

Whoosh makes a posting list by running the analyzer as a generator of `Token` objects, then
pickles each term's position deltas. For `TextAnalyzer` (every full-text field but pinyin) the
terms and positions come from one list instead (`TextAnalyzer.index_terms`), and the encoded
values of short position lists, which most terms have, are reused from a cache. The bytes written
are the ones `Positions` writes (a test compares them), so readers and older indexes are unchanged.
"""

from __future__ import annotations

from functools import lru_cache

from whoosh.formats import Positions

from portal.search.analysis import TextAnalyzer

_CACHED_UP_TO = 4  # positions per term: longer lists are rare and encoded each time


class IndexPositions(Positions):
    def postings(self, value, analyzer) -> list[tuple[bytes, int, float, bytes]]:
        """(term bytes, frequency, weight, encoded positions) of each term: what `Field.index`
        yields for `value`, as one list (the writer's loop in `writer.IndexWriter`)."""
        return [(term.encode("utf-8"), count, weight, encoded)
                for term, count, weight, encoded in self.word_values(value, analyzer, mode="index")]

    def word_values(self, value, analyzer, **kwargs):
        if type(analyzer) is not TextAnalyzer or not isinstance(value, str) or set(kwargs) - {"mode"} \
                or kwargs.get("mode", "index") != "index":
            yield from super().word_values(value, analyzer, **kwargs)
            return
        positions: dict[str, list[int]] = {}
        for term, pos in analyzer.index_terms(value):
            found = positions.get(term)
            if found is None:
                positions[term] = [pos]
            else:
                found.append(pos)
        boost = self.field_boost
        for term, found in positions.items():
            count = len(found)
            encoded = _encoded(tuple(found)) if count <= _CACHED_UP_TO else self.encode(found)
            yield term, count, count * boost, encoded


@lru_cache(maxsize=200_000)
def _encoded(positions: tuple[int, ...]) -> bytes:
    return Positions.encode(None, positions)
