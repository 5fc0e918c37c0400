"""Nearest known English word by edit distance, transpositions counting as one edit.

(Whoosh's `ListCorrector` misses some single insertions, e.g. distrcts → districts, so the
vocabulary is bucketed here by first letter and compared directly; a bucket holds a few hundred
words even for a large catalog.)
"""

from __future__ import annotations

from collections import defaultdict


class Corrector:
    def __init__(self, frequency: dict[str, int]):
        self.frequency = frequency
        self.buckets: dict[str, list[str]] = defaultdict(list)
        for word in sorted(frequency):
            self.buckets[word[0]].append(word)

    def suggest(self, word: str, *, maxdist: int = 2) -> str | None:
        """The closest word (fewest edits, then most frequent) within `maxdist`, or None."""
        best: tuple[int, int, str] | None = None
        for candidate in self.buckets.get(word[:1], ()):
            if abs(len(candidate) - len(word)) > maxdist or candidate == word:
                continue
            distance = edit_distance(word, candidate, maxdist)
            if distance <= maxdist:
                key = (distance, -self.frequency[candidate], candidate)
                best = key if best is None or key < best else best
        return best[2] if best else None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance, giving up (limit + 1) once every path exceeds limit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
