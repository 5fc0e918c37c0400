"""What each field is for in a chart, read from the data dictionary and a profile of the data.

Descriptors declare no chart roles, so they are inferred here, conservatively, from what the
publisher did declare (type, unit, English description, identifier flag, coordinates) and one
profile scan (distinct values, ranges):
- time: a date or timestamp column, or an integer column that is a year (named or described so,
  values 1000..2999);
- measure: a numeric column that is not a code, an identifier, a coordinate, a year or a clock
  reading (HHMM), a month, day, hour or similar calendar part;
- category: a text or boolean column that is not an identifier; codes rank after names, so a
  chart groups by `province`, not `province_code`.
Pure functions: no I/O, no Flask, so the default chart choice is unit-tested per dataset shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from portal.store.charts import Profile

CALENDAR_PARTS = frozenset({"month", "day", "hour", "minute", "second", "quarter", "weekday", "week"})
CODE_NAME = re.compile(r"(^|_)(code|codes|id|adcode|postcode|faa|iso|fips)$|_code_|^code_", re.IGNORECASE)
CODE_WORDS = re.compile(r"\b(code|identifier|hhmm|number assigned)\b|代码|编号", re.IGNORECASE)
NUMERIC = frozenset({"integer", "float", "decimal"})
TEMPORAL = frozenset({"date", "timestamp"})


@dataclass(frozen=True)
class FieldFacts:
    """The dictionary entry of one field as roles need it."""

    name: str
    type: str
    description_en: str = ""
    unit: str | None = None
    identifier: bool = False


def is_code(f: FieldFacts) -> bool:
    return bool(CODE_NAME.search(f.name) or CODE_WORDS.search(f.description_en or ""))


LANGUAGE_TAG = re.compile(r"(?:^|_)(en|zh|cn)$", re.IGNORECASE)
LANGUAGE_WORDS = {"en": re.compile(r"\(english\)", re.IGNORECASE), "zh": re.compile(r"\(chinese\)", re.IGNORECASE)}


def in_other_language(f: FieldFacts, language: str | None) -> bool:
    """A field that holds the same thing in the other language (`holiday_en` on a Chinese page,
    or one described "(Chinese)" on an English page): a chart groups by the page's own."""
    if language is None:
        return False
    tag = LANGUAGE_TAG.search(f.name)
    if tag:
        return ("zh" if tag.group(1).lower() in ("zh", "cn") else "en") != language
    other = "en" if language == "zh" else "zh"
    return bool(LANGUAGE_WORDS[other].search(f.description_en or ""))


def is_year(f: FieldFacts, profile: Profile) -> bool:
    if f.type != "integer":
        return False
    named = f.name.lower() == "year" or f.name.lower().endswith("_year") or \
        (f.description_en or "").lower().startswith("year")
    low, high = profile.low.get(f.name), profile.high.get(f.name)
    return named and low is not None and high is not None and 1000 <= low <= high <= 2999


def is_time(f: FieldFacts, profile: Profile) -> bool:
    return f.type in TEMPORAL or is_year(f, profile)


def time_fields(fields: Sequence[FieldFacts], profile: Profile) -> list[FieldFacts]:
    """Times with at least three distinct values; real dates and timestamps before years."""
    found = [f for f in fields if is_time(f, profile) and profile.distinct.get(f.name, 0) >= 3]
    return sorted(found, key=lambda f: f.type not in TEMPORAL)


def measure_fields(fields: Sequence[FieldFacts], profile: Profile, *, coordinates: Sequence[str] = ()) -> list[FieldFacts]:
    """Numeric fields that measure something, in dictionary order; those with few distinct values
    (classes 1-4) after those with many."""
    found = [f for f in fields if f.type in NUMERIC and not f.identifier and not is_code(f)
             and f.name not in coordinates and f.name.lower() not in CALENDAR_PARTS
             and not is_year(f, profile) and profile.distinct.get(f.name, 0) >= 2]
    return sorted(found, key=lambda f: profile.distinct.get(f.name, 0) <= 12)


def category_fields(fields: Sequence[FieldFacts], profile: Profile, *, most: int = 60,
                    language: str | None = None) -> list[FieldFacts]:
    """Text and boolean fields with two or more values: those that fit in `most` bars first, then
    those in the page's `language` (of a pair like `holiday_en`/`holiday_zh`), names before codes,
    then fewest values (three or more before two, which make a dull chart)."""
    found = [f for f in fields if f.type in ("text", "boolean") and not f.identifier
             and profile.distinct.get(f.name, 0) >= 2]

    def rank(f: FieldFacts) -> tuple:
        levels = profile.distinct[f.name]
        return (levels > most, in_other_language(f, language), is_code(f), levels < 3, levels)

    return sorted(found, key=rank)


def key_fields(fields: Sequence[FieldFacts], profile: Profile, *, language: str | None = None) -> list[FieldFacts]:
    """Categories with one row each (the data are one row per key): the page's language first,
    names before codes."""
    return sorted((f for f in fields if f.type == "text" and not f.identifier
                   and profile.distinct.get(f.name) == profile.rows and profile.rows > 1),
                  key=lambda f: (in_other_language(f, language), is_code(f)))
