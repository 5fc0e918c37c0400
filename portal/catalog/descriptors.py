"""Checking the values of a dataset descriptor: typed reads that collect errors by field path, and
the vocabularies a publisher may write in their own words (themes, update frequencies,
departments).

A descriptor is written by hand, by people who read the site in Chinese. So a theme may be given
by its code (`geospatial`), its Chinese name (地理空间) or its English name (Geospatial); an update
frequency in common spellings (`yearly`, `annually`, 每年, 按月); a department as a plain name
(its slug derived) or as the full `{slug, name_zh, name_en}` object. Every check records a message
under the dotted path of the field it read (`kaifang.department.slug`) instead of raising, so one
load reports every problem of a descriptor at once and never ends in a traceback. This module
parses only; it writes nothing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from portal.catalog.models import UPDATE_FREQUENCIES
from portal.catalog.themes import THEMES

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MAX_SLUG = 60

def _key(text: str) -> str:
    """A spelling-insensitive key: lower case, without spaces, dashes, underscores or '&'/'and'."""
    text = text.strip().casefold().replace("&", "").replace(" and ", "")
    return re.sub(r"[\s\-_/·.]+", "", text)


_THEME_NAMES = {_key(name): code for code, zh, en in THEMES for name in (code, zh, en)}

_FREQUENCY_SPELLINGS = {
    "static": ("static", "never", "once", "one-off", "none", "不更新", "一次性", "静态", "历史数据"),
    "annual": ("annual", "annually", "yearly", "year", "per year", "every year", "each year",
               "每年", "年度", "按年", "年", "每年一次", "年更"),
    "quarterly": ("quarterly", "quarter", "per quarter", "every quarter", "每季度", "季度", "按季度",
                  "按季", "季"),
    "monthly": ("monthly", "month", "per month", "every month", "每月", "月度", "按月", "月"),
    "weekly": ("weekly", "week", "per week", "every week", "每周", "按周", "周"),
    "daily": ("daily", "day", "per day", "every day", "每日", "每天", "按日", "按天", "日", "天"),
    "realtime": ("realtime", "real-time", "real time", "live", "continuous", "continuously",
                 "streaming", "实时"),
    "irregular": ("irregular", "irregularly", "as needed", "ad hoc", "ad-hoc", "occasional",
                  "不定期", "按需", "不定时"),
}
_FREQUENCIES = {_key(spelling): code for code, spellings in _FREQUENCY_SPELLINGS.items()
                for spelling in spellings}
assert set(_FREQUENCY_SPELLINGS) == set(UPDATE_FREQUENCIES)


@dataclass(frozen=True)
class DepartmentRef:
    """The publisher named by a descriptor. `by_name` when only a name was given: the catalog
    then reuses a department of that name before creating one under the derived slug."""

    slug: str
    name_zh: str
    name_en: str
    by_name: bool = False


class Checker:
    """Typed reads of descriptor values; each problem is recorded under its field path."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def mapping(self, obj: dict, key: str, path: str, *, required: bool = False) -> dict:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(path, "required")
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be an object, not {_kind(value)}")
            return {}
        return value

    def text(self, obj: dict, key: str, path: str, *, required: bool = False,
             default: str = "") -> str:
        value = obj.get(key)
        if value is None or value == "":
            if required:
                self.add(path, "required")
            return default
        if not isinstance(value, str):
            self.add(path, f"must be text, not {_kind(value)}")
            return default
        return value

    def optional_text(self, obj: dict, key: str, path: str) -> str | None:
        return self.text(obj, key, path) or None

    def strings(self, obj: dict, key: str, path: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(path, "must be a list of text")
            return ()
        return tuple(value)

    def objects(self, obj: dict, key: str, path: str) -> list[dict]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.add(path, "must be a list of objects")
            return []
        return value

    def flag(self, obj: dict, key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, not {_kind(value)}")
            return False
        return value

    def theme(self, value: Any, path: str) -> str:
        """A theme code from its code, Chinese or English name."""
        if not isinstance(value, str) or not value.strip():
            self.add(path, "required: a theme code or its Chinese or English name")
            return ""
        code = _THEME_NAMES.get(_key(value))
        if code is None:
            self.add(path, f"unknown theme {value!r}; {_theme_hint(value)}")
            return ""
        return code

    def frequency(self, value: Any, path: str) -> str:
        """An update frequency code from a common spelling; `irregular` when absent."""
        if value is None or value == "":
            return "irregular"
        code = _FREQUENCIES.get(_key(value)) if isinstance(value, str) else None
        if code is None:
            self.add(path, f"unknown update frequency {value!r}; one of "
                           f"{', '.join(UPDATE_FREQUENCIES)} (or e.g. 'yearly', '每年', '每月')")
            return "irregular"
        return code

    def department(self, value: Any, path: str) -> DepartmentRef | None:
        """The publisher, from a plain name or a `{slug, name_zh, name_en}` object."""
        if isinstance(value, str) and value.strip():
            name = value.strip()
            return self._department_ref(path, slug="", name_zh=name, name_en="", by_name=True)
        if not isinstance(value, dict) or not value:
            self.add(path, "required: a department name or {slug, name_zh, name_en}")
            return None
        slug = self.text(value, "slug", f"{path}.slug")
        name_zh = self.text(value, "name_zh", f"{path}.name_zh")
        name_en = self.text(value, "name_en", f"{path}.name_en")
        if not (slug or name_zh or name_en):
            self.add(path, "give at least a slug or a name")
            return None
        return self._department_ref(path, slug=slug, name_zh=name_zh, name_en=name_en,
                                    by_name=not slug)

    def _department_ref(self, path: str, *, slug: str, name_zh: str, name_en: str,
                        by_name: bool) -> DepartmentRef | None:
        if not slug:
            slug = derive_slug(name_zh or name_en)
        if not SLUG.match(slug) or len(slug) > _MAX_SLUG:
            self.add(f"{path}.slug" if not by_name else path,
                     f"{slug!r} is not a slug (lowercase letters, digits and dashes)")
            return None
        if not name_en and name_zh.isascii():
            name_en = name_zh
        return DepartmentRef(slug, name_zh, name_en, by_name)


def derive_slug(name: str) -> str:
    """A URL slug for a name: its pinyin for Chinese (民政局 -> min-zheng-ju), else its words."""
    from pypinyin import lazy_pinyin  # loaded only when a descriptor needs it (its tables are big)

    words = lazy_pinyin(name, errors=lambda chars: [chars])
    text = "-".join(words).casefold()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text)).strip("-")[:_MAX_SLUG].strip("-")


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
             dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _theme_hint(value: str) -> str:
    """The closest themes by code or name (a publisher writes 交通运输 for 道路交通), else an example."""
    names = {name: code for code, zh, en in THEMES for name in (code, zh, en)}
    close = difflib.get_close_matches(value.strip(), list(names), n=3, cutoff=0.45)
    if not close:
        return "use a code or name such as 'geospatial', '地理空间' or 'Geospatial'"
    labels = {code: f"'{code}' ({zh}, {en})" for code, zh, en in THEMES}
    shown = ", ".join(dict.fromkeys(labels[names[name]] for name in close))
    return f"did you mean {shown}?"
