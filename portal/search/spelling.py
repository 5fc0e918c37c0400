"""'Did you mean': corrections of English typos and of Chinese near-misses.

English words are corrected towards the unstemmed vocabulary of titles, tags and descriptions
(Whoosh's Levenshtein automaton, at most two edits, first letter kept). A Chinese run that is
not a word of any title or tag is replaced by a word with the same pinyin (天汽 → 天气), else by a
word that differs in one character (行政区话 → 行政区划). Pinyin typed on its own is shown as the
Chinese word it spells (tianqi → 天气), and so is
pinyin the index does not know at all.
"""

from __future__ import annotations

import re

from whoosh.searching import Searcher

from portal.search.analysis import CJK, pinyin, simplified, text_analyzer
from portal.search.lexicon import Vocabulary
from portal.search.query import split_pinyin
from portal.search.schema import USER_FIELDS
from portal.search.synonyms import Synonyms

_PIECES = re.compile(rf"([{CJK}]+)|([A-Za-z]+)")
_ANALYZER = text_analyzer()
KNOWN_IN = ("title", "tags", "description")
OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})


def correct(text: str, searcher: Searcher, vocabulary: Vocabulary, synonyms: Synonyms) -> str | None:
    """A corrected query, or None when nothing in it looks misspelt.

    Only words that the index does not know and that have no synonym are corrected, so a
    rare but real word is never 'corrected' into a common one.
    """
    pieces, changed, last = [], False, 0
    reader = searcher.reader()
    for match in _PIECES.finditer(text):
        pieces.append(text[last:match.start()])
        word = match.group(0)
        if _syntax(word, text, match.end()):
            fixed = None
        elif _known(word, reader, synonyms):
            fixed = _pinyin_word(word, vocabulary) if match.group(2) else None
        else:
            fixed = _chinese(simplified(word), vocabulary) if match.group(1) else _latin(word, vocabulary)
        changed |= fixed is not None and fixed != word
        pieces.append(fixed or word)
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces).strip() if changed else None


def _syntax(word: str, text: str, end: int) -> bool:
    """A field name before its colon (`theme:`) or an operator: query syntax, never a typo."""
    return word in OPERATORS or (text[end:end + 1] == ":" and word.lower() in USER_FIELDS)


def _known(word: str, reader, synonyms: Synonyms) -> bool:
    terms = [t.text for t in _ANALYZER(word, mode="query")]
    return not terms or all(synonyms.alternatives(t) or any(reader.doc_frequency(f, t) for f in KNOWN_IN)
                            for t in terms)


def _chinese(run: str, vocabulary: Vocabulary) -> str | None:
    if len(run) < 2:
        return None
    same_sound = vocabulary.by_pinyin.get(pinyin(run))
    if same_sound:
        return same_sound[0]
    for word in vocabulary.by_length.get(len(run), ()):
        if sum(a != b for a, b in zip(word, run, strict=True)) == 1:
            return word
    return None


def _pinyin_word(word: str, vocabulary: Vocabulary) -> str | None:
    """Pinyin shown as the Chinese it spells (hangban → 航班)."""
    units = split_pinyin(word.lower(), vocabulary.pinyin_terms)
    if not units:
        return None
    chinese = [vocabulary.by_pinyin.get(u, (None,))[0] for u in units]
    return "".join(chinese) if all(chinese) else None


def _latin(word: str, vocabulary: Vocabulary) -> str | None:
    lower = word.lower()
    found = _pinyin_word(lower, vocabulary)
    if found or len(lower) < 4:
        return found
    return vocabulary.english.suggest(lower, maxdist=1 if len(lower) < 6 else 2)
