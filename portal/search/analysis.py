"""Text analysis of the search index: one analyzer for Chinese and English, and pinyin.

Chinese runs are converted to Simplified (OpenCC `t2s`, so 飛機 and 飞机 are one term) and
segmented with jieba's dictionary through `rjieba` (the Rust port: the same words, about 30×
faster, see docs/decisions/0013). Index time uses jieba's search mode, which also emits the
shorter words inside a long one (行政区划 → 行政, 区划, 行政区, 行政区划), so a query for 区划
finds 行政区划代码; query time uses the precise mode. Latin words are lower-cased and Porter
stemmed. This module knows nothing of the catalog or of Flask.
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.analysis import Composable, LowercaseFilter, StemFilter, StopFilter, Token, Tokenizer
from whoosh.lang.porter import stem

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{CJK}]+)|([^\W{CJK}_]+(?:['’][a-z]+)?)", re.IGNORECASE)
_HAS_CJK = re.compile(rf"[{CJK}]")

# Words too common in a data catalog to tell datasets apart, in both languages.
STOP_WORDS = frozenset("""
a an and are as at be by for from in into is it of on or the this that to with via per
data dataset datasets
的 了 和 与 及 或 在 是 等 之 其 为 由 以 对 个 各 中 含 数据 数据集 信息 记录
""".split())


@lru_cache(maxsize=1)
def _t2s():
    """Loaded on first use, like rjieba and pypinyin below: their dictionaries are most of what
    importing the app costs, and a command line that never searches should not pay for them."""
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _jieba_tokenize():
    """rjieba's tokenizer, imported on first use (see `_t2s`), once: not once per Chinese run."""
    import rjieba

    return rjieba.tokenize


def simplified(text: str) -> str:
    """Traditional → Simplified Chinese; text whose length would change is left as it is,
    so character offsets (used by highlighting) stay true."""
    if not _HAS_CJK.search(text):
        return text
    converted = _t2s().convert(text)
    return converted if len(converted) == len(text) else text


def has_cjk(text: str) -> bool:
    return bool(_HAS_CJK.search(text))


def segment(text: str, *, search_mode: bool) -> list[tuple[str, int, int]]:
    """(word, start, end) of every word in `text`, Chinese segmented, Latin split on non-letters."""
    words: list[tuple[str, int, int]] = []
    mode = "search" if search_mode else "default"
    for match in _RUNS.finditer(simplified(text)):
        if match.group(2):
            words.append((match.group(2), match.start(), match.end()))
            continue
        base = match.start()
        for word, start, end in _jieba_tokenize()(match.group(1), mode=mode):
            words.append((word, base + start, base + end))
    return words


class MixedTokenizer(Tokenizer):
    """Whoosh tokenizer over `segment`: search-mode words when indexing, precise when querying."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost, token.stopped = 1.0, False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        for pos, (word, start, end) in enumerate(segment(value, search_mode=mode != "query")):
            token.text = word
            token.boost, token.stopped = 1.0, False
            if keeporiginal:
                token.original = word
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


def _stem(word: str) -> str:
    return word if not word.isascii() or word.isdigit() else stem(word)


_cached_stem = lru_cache(maxsize=50_000)(_stem)


class TextAnalyzer(Composable):
    """`MixedTokenizer | LowercaseFilter | StopFilter(STOP_WORDS) | StemFilter(_stem)` in one
    generator: the same tokens, positions renumbered over stop words as StopFilter does, without
    three generator layers per token (the analysis is half of an index build)."""

    is_morph = True  # it stems: Whoosh asks this of an analyzer

    def __init__(self):
        self.tokenizer = MixedTokenizer()

    def __eq__(self, other):
        return other.__class__ is self.__class__

    def __hash__(self):
        return hash(self.__class__)

    def index_terms(self, value: str) -> list[tuple[str, int]]:
        """(term, position) of every unstopped token, as `__call__(value, mode="index",
        positions=True)` yields them, without a Token per word: what an index build needs."""
        terms: list[tuple[str, int]] = []
        pos = None
        for index, (word, _, _) in enumerate(segment(value, search_mode=True)):
            text = word.lower()
            if text and text not in STOP_WORDS:
                pos = index if pos is None else pos + 1
                terms.append((_cached_stem(text), pos))
        return terms

    def __call__(self, value, no_morph=False, **kwargs):
        positions = kwargs.get("positions", False)
        pos = None
        for token in self.tokenizer(value, **kwargs):
            text = token.text.lower()
            if text and text not in STOP_WORDS:
                if positions:
                    pos = token.pos if pos is None else pos + 1
                    token.pos = pos
                token.stopped = False
                token.text = text if no_morph else _cached_stem(text)
                yield token
            elif not token.removestops:
                token.text, token.stopped = text, True
                yield token


def composed_text_analyzer() -> Composable:
    """What `TextAnalyzer` does, as Whoosh's filter chain: the form pickled in the schema of indexes
    built before it, and what the tests compare it with."""
    return MixedTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS, minsize=1) \
        | StemFilter(stemfn=_stem, ignore=None, cachesize=50000)


def text_analyzer() -> Composable:
    """The analyzer of every full-text field (titles, tags, descriptions, data dictionary)."""
    return TextAnalyzer()


def spelling_analyzer() -> Composable:
    """Whole Latin words, unstemmed, as Whoosh's filter chain: the reference that `spelling_words`
    (what the 'did you mean' vocabulary is read with) is tested against."""
    return MixedTokenizer() | LowercaseFilter() | StopFilter(stoplist=STOP_WORDS, minsize=3)


def spelling_words(text: str) -> list[str]:
    """The plain English words (ASCII letters only) that `spelling_analyzer` yields for `text`, in
    one pass without tokens: the vocabulary of "did you mean", read over every description."""
    words = []
    for match in _RUNS.finditer(text):
        word = match.group(2)
        if word and word.isascii() and word.isalpha() and len(word) >= 3:
            word = word.lower()
            if word not in STOP_WORDS:
                words.append(word)
    return words


@lru_cache(maxsize=100_000)
def pinyin(word: str) -> str:
    """Toneless pinyin of a Chinese word, syllables joined: 天气 → tianqi."""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(word, errors="ignore"))


@lru_cache(maxsize=100_000)
def initials(word: str) -> str:
    """First letters of the syllables: 天气 → tq."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(word, style=Style.FIRST_LETTER, errors="ignore"))


def pinyin_terms(text: str) -> list[str]:
    """Pinyin of each Chinese word of `text` (both segmentations, two or more characters)."""
    words = {w for w, _, _ in segment(text, search_mode=True) if has_cjk(w) and len(w) > 1}
    return sorted({pinyin(w) for w in words if w not in STOP_WORDS} - {""})
