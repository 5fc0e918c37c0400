"""In-memory structures derived from one generation of the index, rebuilt when it changes.

- `Autocomplete`: a sorted array of keys (each title or tag from every word onwards, in
  characters, in full pinyin and in pinyin initials) searched by bisection: a prefix lookup
  costs microseconds, whatever the catalog size.
- `Vocabulary`: the Chinese words of titles and tags by pinyin and by length, and the pinyin
  terms of the index, for 'did you mean' and for splitting pinyin typed without spaces.
- `FacetCounts` and `DocArrays` (in `ranking`): facet values and posting lists as numpy arrays,
  so matching, ranking and facet counts are array operations rather than a walk per document.

Nothing here writes the index; the structures hold document numbers of one reader only.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

from whoosh.reading import IndexReader

from portal.search.analysis import has_cjk, initials, pinyin, segment, simplified, spelling_words
from portal.search.corrector import Corrector
from portal.search.ranking import DocArrays, FacetCounts
from portal.search.schema import FACETS

KEY_CHARS = 40


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "title" | "tag"
    slug: str | None
    weight: int


class Autocomplete:
    def __init__(self, entries: list[Completion]):
        self.entries = entries
        pairs = sorted({(key, i) for i, e in enumerate(entries) for key in _keys(e.label)})
        self.keys = [k for k, _ in pairs]
        self.owners = [i for _, i in pairs]

    def complete(self, text: str, limit: int = 8) -> list[Completion]:
        prefix = simplified(text.strip().lower())
        if not prefix:
            return []
        found: dict[int, int] = {}
        for probe in dict.fromkeys([prefix, prefix.replace(" ", "")]):
            start = bisect.bisect_left(self.keys, probe)
            for i in range(start, min(start + 400, len(self.keys))):
                if not self.keys[i].startswith(probe):
                    break
                owner = self.owners[i]
                found[owner] = max(found.get(owner, 0), 2 if self.keys[i] == probe else 1)
        ranked = sorted(found, key=lambda i: (-found[i], self.entries[i].kind != "title", -self.entries[i].weight,
                                              len(self.entries[i].label)))
        seen, out = set(), []
        for i in ranked:
            entry = self.entries[i]
            if entry.label.lower() not in seen:
                seen.add(entry.label.lower())
                out.append(entry)
            if len(out) == limit:
                break
        return out


def _keys(label: str) -> set[str]:
    """The label from each word onwards, as written, in pinyin and in pinyin initials."""
    text = simplified(label.lower())
    words = segment(text, search_mode=False)
    keys = set()
    for n, (_, start, _) in enumerate(words):
        keys.add(text[start:start + KEY_CHARS])
        rest = [w for w, _, _ in words[n:n + 8]]
        keys.add("".join(pinyin(w) if has_cjk(w) else w for w in rest)[:KEY_CHARS])
        if has_cjk(rest[0]):
            keys.add("".join(initials(w) if has_cjk(w) else w[:1] for w in rest)[:KEY_CHARS])
    keys.discard("")
    return keys


@dataclass(frozen=True)
class Vocabulary:
    by_pinyin: dict[str, tuple[str, ...]]
    by_length: dict[int, tuple[str, ...]]
    pinyin_terms: frozenset[str]
    frequency: dict[str, int]
    english: Corrector


def _vocabulary(reader: IndexReader, published: list[dict], extra_words: frozenset[str]) -> Vocabulary:
    """Words of published titles and tags only, so a suggestion never reveals a draft."""
    frequency: dict[str, int] = defaultdict(int)
    english: dict[str, int] = defaultdict(int, dict.fromkeys(extra_words, 1))
    for fields in published:
        title_zh, title_en, tags = fields["titles"]
        for word in {w for w, _, _ in segment(" ".join([title_zh, *tags]), search_mode=True)}:
            if has_cjk(word) and len(word) > 1:
                frequency[word] += 1
        for word in spelling_words(" ".join([title_en, *tags, fields.get("description_en") or ""])):
            english[word] += 1
    by_pinyin, by_length = defaultdict(list), defaultdict(list)
    for word in sorted(frequency, key=lambda w: (-frequency[w], w)):
        by_pinyin[pinyin(word)].append(word)
        by_length[len(word)].append(word)
    return Vocabulary({k: tuple(v) for k, v in by_pinyin.items()}, {k: tuple(v) for k, v in by_length.items()},
                      frozenset(reader.field_terms("pinyin")), dict(frequency),
                      Corrector(dict(english)))


def index_key(reader: IndexReader) -> tuple:
    """What identifies one state of the index: its generation and its segments. The generation
    alone does not: an index deleted and rebuilt starts counting again, and a process's lexicon
    (document numbers included) must not outlive the index it was built from."""
    segments = (leaf.segment() for leaf, _ in reader.leaf_readers())
    return reader.generation(), tuple(s.segment_id() for s in segments if s is not None)


@dataclass
class Lexicon:
    key: tuple  # `index_key` of the reader it was built from
    autocomplete: Autocomplete
    vocabulary: Vocabulary
    facets: FacetCounts
    arrays: DocArrays


def build_lexicon(reader: IndexReader, extra_words: frozenset[str] = frozenset()) -> Lexicon:
    """Autocomplete and vocabulary from published documents; facet and ranking arrays from all
    of them (a facet count is always taken within a result set the viewer may see)."""
    stored = list(reader.iter_docs())
    published = [fields for _, fields in stored if fields.get("published") == "1"]
    entries: list[Completion] = []
    tag_counts: dict[str, int] = defaultdict(int)
    for fields in published:
        title_zh, title_en, tags = fields["titles"]
        weight = int(fields.get("views") or 0) + 1
        entries += [Completion(t, "title", fields["slug"], weight) for t in (title_zh, title_en) if t]
        for tag in tags:
            tag_counts[tag] += 1
    entries += [Completion(tag, "tag", None, n) for tag, n in tag_counts.items()]
    return Lexicon(index_key(reader), Autocomplete(entries), _vocabulary(reader, published, extra_words),
                   FacetCounts(reader, FACETS), DocArrays(reader, {d: int(f["id"]) for d, f in stored}))
