"""Highlighted snippets: a window of a description around the first matching word, every
match in it marked. Works on both scripts because it reuses the index analyzer's offsets."""

from __future__ import annotations

from markupsafe import Markup, escape

from portal.search.analysis import text_analyzer

WINDOW = 150
BREAKS = frozenset(" \n\t，。；：、,.;:!?！？")
_ANALYZER = text_analyzer()


def snippet(text: str, terms: frozenset[str], *, window: int = WINDOW) -> Markup:
    """`text` cut to about `window` characters around the matches, matches in <mark>; escaped."""
    if not text:
        return Markup("")
    spans = [(t.startchar, t.endchar) for t in _ANALYZER(text, chars=True, mode="index") if t.text in terms]
    start = _boundary(text, max(0, spans[0][0] - window // 4), spans[0][0]) if spans else 0
    end = min(len(text), start + window)
    marked, cursor = [], start
    for s, e in sorted(spans):
        if s < cursor or e > end:
            continue
        marked += [escape(text[cursor:s]), Markup("<mark>"), escape(text[s:e]), Markup("</mark>")]
        cursor = e
    marked.append(escape(text[cursor:end]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return escape(prefix) + Markup("").join(marked) + escape(suffix)


def _boundary(text: str, start: int, limit: int) -> int:
    """Move a cut forward to just after a space or punctuation, so no word is cut in half."""
    if start == 0:
        return 0
    for i in range(start, min(limit, start + 20)):
        if text[i] in BREAKS:
            return i + 1
    return start
