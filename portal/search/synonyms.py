"""The synonym table: groups of equivalent words, read from a text file editors can extend.

Synonyms are applied when a query is parsed, not when documents are indexed: a new line takes
effect without reindexing, and the index stays a faithful record of what publishers wrote.
Each member is analysed with the index's analyzer, so 'flights' and 'flight' are one member and
a member of several words (postal code) becomes a phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from whoosh.analysis import Composable

DEFAULT_FILE = Path(__file__).with_name("synonyms.txt")


@dataclass(frozen=True)
class Synonyms:
    """term → the analysed forms (tuples of terms) of every member of its groups."""

    groups: dict[str, tuple[tuple[str, ...], ...]]
    phrases: tuple[tuple[re.Pattern[str], str], ...] = ()
    words: frozenset[str] = frozenset()  # one-word Latin members, unstemmed: 'did you mean' targets

    def alternatives(self, term: str) -> tuple[tuple[str, ...], ...]:
        return self.groups.get(term, ())

    def rewrite(self, text: str) -> str:
        """Replace members of several words (zip code) by a one-word member of their group, so
        the parser sees one word that `alternatives` then widens to the whole group."""
        for pattern, word in self.phrases:
            text = pattern.sub(word, text)
        return text


def parse_lines(lines: list[str]) -> list[list[str]]:
    groups = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        members = [m.strip() for m in line.replace("，", ",").split(",") if m.strip()]
        if len(members) > 1:
            groups.append(members)
    return groups


def load_synonyms(path: Path | None, analyzer: Composable) -> Synonyms:
    """Read and analyse the table; a missing file means no synonyms."""
    path = path or DEFAULT_FILE
    if not path.is_file():
        return Synonyms({})
    table: dict[str, set[tuple[str, ...]]] = {}
    phrases: list[tuple[re.Pattern[str], str]] = []
    words: set[str] = set()
    for members in parse_lines(path.read_text(encoding="utf-8").splitlines()):
        forms = {tuple(t.text for t in analyzer(m, mode="query")) for m in members}
        forms.discard(())
        for form in forms:
            if len(form) == 1:
                table.setdefault(form[0], set()).update(forms)
        words.update(m.lower() for m in members if m.isascii() and m.isalpha())
        single = next((m for m in members if len(m.split()) == 1), None)
        phrases += [(re.compile(rf"(?<![\w\"]){re.escape(m)}(?![\w\"])", re.IGNORECASE), single)
                    for m in members if single and len(m.split()) > 1]
    phrases.sort(key=lambda pair: -len(pair[0].pattern))
    return Synonyms({term: tuple(sorted(forms)) for term, forms in table.items()}, tuple(phrases), frozenset(words))
