"""The preview's filter form and its canonical address.

The form has, per column, an operator menu (`op.<column>`) and a value box; operators match the
column's type. What a visitor submits is turned into the canonical query string the row API also
speaks (`column__op=value`): empty boxes dropped, `>60` typed into a number box read as `gt 60`,
`10..20` as `between`. The page redirects to that address, so the URL holds only the filters in
effect whether or not the small script (static/js/preview.js) ran first. Parsing only; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from portal import store

OP_PREFIX = "op."
EMPTY, NOT_EMPTY = "empty", "notempty"
TEXT_OPS = ("contains", "eq", "startswith", "ne", EMPTY, NOT_EMPTY)
ORDERED_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", EMPTY, NOT_EMPTY)
BOOLEAN_OPS = ("eq", EMPTY, NOT_EMPTY)
SHORTHAND = ((">=", "ge"), ("≥", "ge"), ("<=", "le"), ("≤", "le"), ("!=", "ne"), ("<>", "ne"), ("≠", "ne"),
             (">", "gt"), ("<", "lt"), ("=", "eq"))
RANGE = re.compile(r"^\s*(\S+?)\s*(?:\.\.|–|—|~|至|,)\s*(\S+)\s*$")
# Parameters of the dataset page that are not filters; kept when not empty.
PAGE_PARAMS = ("sort", "page", "size")


def operators_for(column_type: str) -> tuple[str, ...]:
    """The operators the form offers for a column of this type, the default first."""
    if column_type == "text":
        return TEXT_OPS
    if column_type == "boolean":
        return BOOLEAN_OPS
    return ORDERED_OPS


def default_operator(column_type: str) -> str:
    return operators_for(column_type)[0]


def canonical_args(args: Mapping[str, str], columns: tuple[store.Column, ...]) -> dict[str, str]:
    """The query string that means what `args` asks for, with only the filters in effect.

    A submitted form (it carries `op.<column>` menus) starts again at page 1."""
    types = {c.name: c.type for c in columns}
    chosen = {k[len(OP_PREFIX):]: v for k, v in args.items() if k.startswith(OP_PREFIX)}
    out: dict[str, str] = {}
    for key, raw in args.items():
        value = raw.strip()
        if key.startswith(OP_PREFIX) or (chosen and key == "page"):
            continue
        column, sep, op = key.rpartition("__")
        if not sep or column not in types:
            if value:
                out[key] = value  # unknown keys are kept so the page can say what is wrong
            continue
        found = _filter(column, chosen.get(column, op), value, types[column])
        if found:
            out[found[0]] = found[1]
    for column, op in chosen.items():  # "empty" needs no value box
        if op in (EMPTY, NOT_EMPTY) and column in types:
            out[f"{column}__is_null"] = "1" if op == EMPTY else "0"
    return out


def _filter(column: str, op: str, value: str, column_type: str) -> tuple[str, str] | None:
    if op in (EMPTY, NOT_EMPTY):
        return f"{column}__is_null", "1" if op == EMPTY else "0"
    if value == "" and op != "is_null":
        return None
    if column_type != "text" and op in ("eq", "contains"):
        for prefix, meant in SHORTHAND:
            if value.startswith(prefix) and value[len(prefix):].strip():
                op, value = meant, value[len(prefix):].strip()
                break
        else:
            match = RANGE.match(value) if column_type != "boolean" else None
            if match:
                op, value = "between", f"{match[1]},{match[2]}"
    elif op == "between":
        match = RANGE.match(value)
        if match:
            value = f"{match[1]},{match[2]}"
    return f"{column}__{op}", value


def form_state(args: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{column: (form operator, value)} of the first filter on each column, for the form's boxes."""
    state: dict[str, tuple[str, str]] = {}
    for key, value in args.items():
        column, sep, op = key.rpartition("__")
        if not sep or column in state:
            continue
        if op == "is_null":
            state[column] = (EMPTY if value.lower() not in ("0", "false", "no") else NOT_EMPTY, "")
        else:
            state[column] = (op, value)
    return state
