"""'Did you mean': corrections of English typos and of Chinese near-misses.

English words are corrected towards the unstemmed vocabulary of titles, tags and descriptions
(Whoosh's Levenshtein automaton, at most two edits, first letter kept). A Chinese run that is
not a word of any title or tag is replaced by a word with the same pinyin (天汽 → 天气), else by a
word that differs in one character (行政区话 → 行政区划). Pinyin typed on its own is shown as the
Chinese word it spells (tianqi → 天气).
"""

from __future__ import annotations

import re

from whoosh.searching import Searcher

from portal.search.analysis import CJK, pinyin, simplified, text_analyzer
from portal.search.lexicon import Vocabulary
from portal.search.query import split_pinyin

_PIECES = re.compile(rf"([{CJK}]+)|([A-Za-z]+)")
_ANALYZER = text_analyzer()
KNOWN_IN = ("title", "tags", "description")


def correct(text: str, searcher: Searcher, vocabulary: Vocabulary) -> str | None:
    """A corrected query, or None when nothing in it looks misspelt."""
    pieces, changed, last = [], False, 0
    for match in _PIECES.finditer(text):
        pieces.append(text[last:match.start()])
        word = match.group(0)
        fixed = _chinese(simplified(word), vocabulary) if match.group(1) else _latin(word, searcher, vocabulary)
        changed |= fixed is not None and fixed != word
        pieces.append(fixed or word)
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces).strip() if changed else None


def _chinese(run: str, vocabulary: Vocabulary) -> str | None:
    if run in vocabulary.frequency or len(run) < 2:
        return None
    same_sound = vocabulary.by_pinyin.get(pinyin(run))
    if same_sound:
        return same_sound[0]
    for word in vocabulary.by_length.get(len(run), ()):
        if sum(a != b for a, b in zip(word, run, strict=True)) == 1:
            return word
    return None


def _latin(word: str, searcher: Searcher, vocabulary: Vocabulary) -> str | None:
    lower = word.lower()
    units = split_pinyin(lower, vocabulary.pinyin_terms)
    if units:
        chinese = [vocabulary.by_pinyin.get(u, (None,))[0] for u in units]
        if all(chinese):
            return "".join(chinese)
    terms = [t.text for t in _ANALYZER(lower, mode="query")]
    reader = searcher.reader()
    if len(lower) < 4 or not terms or any(reader.doc_frequency(f, t) for t in terms for f in KNOWN_IN):
        return None
    return vocabulary.english.suggest(lower, maxdist=1 if len(lower) < 6 else 2)
