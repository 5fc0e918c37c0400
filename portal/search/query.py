"""From what a person typed to a Whoosh query: cleaning, parsing, synonyms and pinyin.

Anything may arrive here (unbalanced quotes, lone operators, control characters, 5,000
characters, emoji): the text is cleaned first, and if the parser still refuses it, the words
alone are searched. No input raises.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from whoosh import qparser
from whoosh.query import And, Every, Or, Phrase, Query, Term

from portal.auth import Actor
from portal.search.lexicon import Vocabulary
from portal.search.schema import FIELD_BOOSTS, USER_FIELDS
from portal.search.synonyms import Synonyms

MAX_QUERY_CHARS = 200
MAX_WORDS = 24
TEXT_FIELDS = ("title", "tags", "description", "meta", "columns")
SYNONYM_FIELDS = ("title", "tags", "description")  # widening the low-weight fields adds cost, not hits
PARSED_FIELDS = {f: b for f, b in FIELD_BOOSTS.items() if f != "pinyin"}  # pinyin has its own builder
_FIELD_PREFIX = re.compile(r"(\w+):")
_RANGES = re.compile(r"[\[\]{}^]")
_OPERATORS = re.compile(r'\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b|["()*?:+]|(^|\s)-')
_WORDLIKE = re.compile(r"\w")
_PINYIN_ONLY = re.compile(r"^[a-zA-Z' ]+$")


@dataclass(frozen=True)
class CleanText:
    text: str
    truncated: bool


def clean(raw: str) -> CleanText:
    """Printable text only, at most MAX_QUERY_CHARS, quotes and brackets balanced."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") else c for c in raw)
    truncated = len(text) > MAX_QUERY_CHARS
    text = text[:MAX_QUERY_CHARS]
    text = _FIELD_PREFIX.sub(_field_or_word, _RANGES.sub(" ", text))
    if text.count('"') % 2:
        head, _, tail = text.rpartition('"')
        text = head + " " + tail
    text = _balance_parentheses(text)
    words = text.split()
    if not any(_WORDLIKE.search(w) for w in words):
        words = []
    return CleanText(" ".join(words[:MAX_WORDS]), truncated or len(words) > MAX_WORDS)


def _field_or_word(match: re.Match) -> str:
    field = USER_FIELDS.get(match.group(1).lower())
    return f"{field}:" if field else f"{match.group(1)} "


def _balance_parentheses(text: str) -> str:
    out, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                continue
            depth -= 1
        out.append(char)
    return "".join(out) + ")" * depth


class QueryBuilder:
    """Parses cleaned text against the schema and widens it with synonyms and pinyin."""

    def __init__(self, schema, synonyms: Synonyms):
        self.schema = schema
        self.synonyms = synonyms
        self.parsers = {group: self._parser(group) for group in (qparser.AndGroup, qparser.OrGroup)}

    def _parser(self, group) -> qparser.QueryParser:
        parser = qparser.MultifieldParser(list(PARSED_FIELDS), self.schema, fieldboosts=PARSED_FIELDS, group=group)
        parser.remove_plugin_class(qparser.RangePlugin)
        return parser

    def build(self, text: str, vocabulary: Vocabulary | None, *, any_word: bool = False) -> Query:
        if not text:
            return Every()
        parser = self.parsers[qparser.OrGroup if any_word else qparser.AndGroup]
        try:
            parsed = parser.parse(self.synonyms.rewrite(text))
        except Exception:  # noqa: BLE001 - the parser's own failure: search the words alone
            parsed = parser.parse(_plain_words(text))
        query = self._expand(parsed)
        pinyin = self._pinyin(text, vocabulary)
        return Or([query, pinyin]) if pinyin is not None else query

    def words_only(self, text: str) -> Query:
        """The plain words of `text`, any syntax dropped: the last resort for odd input."""
        words = _plain_words(text)
        return self._expand(self.parsers[qparser.AndGroup].parse(words)) if words else Every()

    def _expand(self, query: Query) -> Query:
        if isinstance(query, Term) and query.fieldname in SYNONYM_FIELDS:
            alternatives = self.synonyms.alternatives(query.text)
            if alternatives:
                return Or([_form(query.fieldname, form, query.boost) for form in alternatives])
            return query
        return query.apply(self._expand)

    def _pinyin(self, text: str, vocabulary: Vocabulary | None) -> Query | None:
        """`hangban`, `hang ban`, `niuyuehangban`: pinyin of indexed Chinese words, found by
        splitting the letters greedily into the longest pinyin terms of the index."""
        if vocabulary is None or not _PINYIN_ONLY.match(text):
            return None
        units = split_pinyin(text.replace("'", "").replace(" ", "").lower(), vocabulary.pinyin_terms)
        if not units:
            return None
        spelled = And([Term("pinyin", u) for u in units])
        chinese = [vocabulary.by_pinyin.get(u, ("",))[0] for u in units]
        if not all(chinese):
            return spelled
        # the Chinese words the pinyin spells, so their synonyms count too (feiji → 飞机 → 航班)
        return Or([spelled, self._expand(self.parsers[qparser.AndGroup].parse(" ".join(chinese)))])


def _form(field: str, form: tuple[str, ...], boost: float) -> Query:
    if len(form) == 1:
        return Term(field, form[0], boost=boost)
    return Phrase(field, list(form), boost=boost)


def split_pinyin(letters: str, terms: frozenset[str]) -> list[str] | None:
    """The fewest pinyin terms of the index that spell `letters` exactly, or None."""
    if not letters or len(letters) > 60:
        return None
    best: list[list[str] | None] = [None] * (len(letters) + 1)
    best[0] = []
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - 30), end):
            head = best[start]
            if head is not None and letters[start:end] in terms and (
                    best[end] is None or len(head) + 1 < len(best[end])):
                best[end] = [*head, letters[start:end]]
    return best[-1] or None


def visibility_filter(actor: Actor) -> Query | None:
    """The index's form of `catalog.queries.visible_datasets`: published, plus drafts of the
    actor's own department for publishers; stewards and admins see everything."""
    if actor.at_least("steward"):
        return None
    published = Term("published", "1")
    if actor.role == "publisher" and actor.department_id is not None:
        return Or([published, Term("department_id", str(actor.department_id))])
    return published


def facet_filters(filters: dict[str, str]) -> list[Query]:
    return [Term(field, value) for field, value in filters.items() if value]


def has_operators(text: str) -> bool:
    """Whether the person wrote query syntax (then 'any word' would betray what they asked)."""
    return bool(_OPERATORS.search(text))


def _plain_words(text: str) -> str:
    """The words of `text`, lower-cased so none is read as an operator (`NOT NOT x` broke Whoosh's
    parser; the analyzer lower-cases every term anyway)."""
    return " ".join(word.lower() for word in re.findall(r"\w+", text))
