"""Parsing CKAN action parameters, which arrive as JSON values (POST) or strings (GET).

CKAN validators accept both `"10"` and `10`, `"a,b"` and `["a","b"]`, and a JSON object or its
text for `filters`; so do these. Anything malformed raises `Invalid` (CKAN's 409 Validation
Error, naming the parameter) or `SearchQueryError` (400) for package search's `fq`/`sort`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from portal.errors import BadRequest, Invalid

# Parameters browsers and JSONP callers add that CKAN ignores.
IGNORED = frozenset({"callback", "_"})


class SearchQueryError(BadRequest):
    """CKAN's `Search Query Error`: a `q`, `fq` or `sort` the search cannot read."""

    code = "search-query-error"


def invalid(name: str, message: str) -> Invalid:
    return Invalid(f"{name}: {message}", code="validation-error", errors={name: [message]})


def check_keys(data: dict[str, Any], allowed: frozenset[str] | set[str]) -> None:
    unknown = sorted(k for k in data if k not in allowed and k not in IGNORED)
    if unknown:
        raise Invalid(f"unknown parameters: {', '.join(unknown)}", code="validation-error",
                      errors={k: ["The parameter is not known to this action"] for k in unknown[:20]})


def required_text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if isinstance(value, list):
        raise invalid(name, "Give one value")
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "Missing value")
    return value.strip()


def integer(data: dict[str, Any], name: str, default: int, *, minimum: int = 0, maximum: int | None = None,
            clamp: bool = False) -> int:
    """An integer parameter; above `maximum` it is clamped (CKAN's rows_max) or refused."""
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str) or (isinstance(raw, str) and not re.fullmatch(r"-?\d{1,12}", raw.strip())):
        raise invalid(name, "Invalid integer")
    value = int(raw)
    if value < minimum:
        raise invalid(name, f"Must be at least {minimum}")
    if maximum is not None and value > maximum:
        if not clamp:
            raise invalid(name, f"Must be at most {maximum}")
        value = maximum
    return value


def boolean(data: dict[str, Any], name: str, default: bool) -> bool:
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return raw.lower() in ("true", "1", "yes", "on")
    raise invalid(name, "Invalid boolean")


def text_list(data: dict[str, Any], name: str) -> list[str] | None:
    """A list given as a JSON list, a JSON-encoded list, or comma-separated text."""
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        stripped = raw.strip()
        if stripped.startswith("["):
            try:
                raw = json.loads(stripped)
            except json.JSONDecodeError:
                raise invalid(name, "Not a JSON list") from None
        else:
            raw = [part.strip() for part in stripped.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise invalid(name, "Must be a list of names")
    return raw


def json_object(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise invalid(name, "Not a JSON object") from None
    if not isinstance(raw, dict):
        raise invalid(name, "Must be a JSON object")
    return raw


# -- package_search: Solr-style fq and sort -----------------------------------------------

TERM = re.compile(r'\s*(?P<sign>[+-]?)(?P<field>[A-Za-z_][\w.]*):(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"()]+))\s*')
CONNECTIVES = re.compile(r"\s*(AND|&&)\s+")


def field_terms(text: str, fields: frozenset[str]) -> list[tuple[str, str, bool]]:
    """`tags:economy -organization:"x y"` as (field, value, negated) triples, ANDed.

    Raises:
        SearchQueryError: anything else (OR, ranges, parentheses, unknown fields).
    """
    terms, position = [], 0
    while position < len(text):
        connective = CONNECTIVES.match(text, position)
        if connective and terms:
            position = connective.end()
            continue
        match = TERM.match(text, position)
        if match is None:
            raise SearchQueryError(f"Search Query is invalid: cannot read {text[position:position + 40]!r}; "
                                   "use field:value terms joined by spaces or AND")
        field = match["field"]
        if field not in fields:
            raise SearchQueryError(f"Search Query is invalid: unknown field {field!r}; one of {', '.join(sorted(fields))}")
        value = re.sub(r"\\(.)", r"\1", match["quoted"]) if match["quoted"] is not None else match["bare"]
        terms.append((field, value, match["sign"] == "-"))
        position = match.end()
    return terms


def looks_like_terms(text: str, fields: frozenset[str]) -> bool:
    """Whether a `q` is really filters (`tags:x`), as Solr reads it; `http://…` stays text."""
    match = TERM.match(text)
    return match is not None and match["field"] in fields


def sort_keys(text: str, allowed: frozenset[str]) -> list[tuple[str, bool]]:
    """`metadata_modified desc, name asc` as (key, descending) pairs."""
    keys = []
    for part in [p.strip() for p in text.split(",") if p.strip()][:4]:
        pieces = part.split()
        direction = pieces[1].lower() if len(pieces) == 2 else "asc"
        if len(pieces) > 2 or pieces[0] not in allowed or direction not in ("asc", "desc"):
            raise SearchQueryError(f"Search Query is invalid: cannot sort by {part[:60]!r}; "
                                   f"fields: {', '.join(sorted(allowed))}, then asc or desc")
        keys.append((pieces[0], direction == "desc"))
    return keys
