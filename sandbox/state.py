"""Notebook state: the JSON-safe variables of one run, handed to the next one.

Plain data survives (None, bool, bounded int, finite float, str, lists/tuples and str-keyed
dicts of those), and three kinds of value, each tagged as a one-key object:

- released `Frame`s as {"$frame": {columns, types, rows}};
- lazy tables and group-bys as {"$lazy": {source, steps}} / {"$group": {table, keys}}: only
  their plan is kept (they hold no rows), and the next run re-creates them on *its own* query
  client, so every later query is validated and granted again like a fresh `dataset(...)`;
- dates, datetimes, times and timedeltas as {"$date": iso}, {"$datetime": iso}, {"$time": iso},
  {"$timedelta": [days, seconds, microseconds]};
- imports, as a notebook expects them to last: an allowed module as {"$module": name}, a name
  imported from one (`from math import sqrt`) as {"$import": [module, name]}; both revive
  through the same allow-list as a fresh `import`.

Functions, classes, modules and anything else are skipped and named in the run's message, so
the state is always valid JSON the portal may store. A tagged object that does not revive
cleanly stays a plain dict: state never becomes anything a run could not have built itself.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

from sandbox.modules import ALLOWED, ModuleView, guarded_import
from sandbox.plan import SLUG
from sandbox.tables import Frame, GroupBy, LazyTable, QueryClient, QueryRefused

FRAME_TAG = "$frame"
LAZY_TAG = "$lazy"
GROUP_TAG = "$group"
DATE_TAGS = ("$date", "$datetime", "$time", "$timedelta")
IMPORT_TAGS = ("$module", "$import")
_exports: dict[int, tuple[str, str, Any]] = {}


def _exported(value: Any) -> tuple[str, str] | None:
    """(module, name) when `value` is exactly a callable an allowed module offers."""
    if not _exports:
        for module in sorted(ALLOWED):
            view = guarded_import(module)
            for name in dir(view):
                item = getattr(view, name)
                if callable(item):
                    _exports.setdefault(id(item), (module, name, item))
    found = _exports.get(id(value))
    return (found[0], found[1]) if found is not None and found[2] is value else None
MAX_DEPTH = 20
MAX_INT_BITS = 256


class NotJsonSafe(ValueError):
    pass


def _plain(value: Any, depth: int) -> Any:  # noqa: C901 - one branch per kept type
    if depth > MAX_DEPTH:
        raise NotJsonSafe("nested too deeply")
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int and value.bit_length() <= MAX_INT_BITS:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind in (list, tuple):
        return [_plain(item, depth + 1) for item in value]
    if kind is dict and all(type(key) is str for key in value):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    if kind is Frame:
        return {FRAME_TAG: {"columns": list(value.columns), "types": list(value.dtypes),
                            "rows": _plain(value.rows, depth + 1)}}
    if kind is LazyTable:
        return {LAZY_TAG: _plain(value.pipeline(), depth + 1)}
    if kind is GroupBy:
        table = object.__getattribute__(value, "_table")
        return {GROUP_TAG: {"table": _plain(table.pipeline(), depth + 1),
                            "keys": _plain(object.__getattribute__(value, "_keys"), depth + 1)}}
    if kind is ModuleView:
        name = object.__getattribute__(value, "_name")
        if name in ALLOWED and guarded_import(name) is value:
            return {"$module": name}
        raise NotJsonSafe("not an allowed module")
    if kind is datetime.datetime:  # before date: a datetime is a date too
        return {"$datetime": value.isoformat()}
    if kind is datetime.date:
        return {"$date": value.isoformat()}
    if kind is datetime.time:
        return {"$time": value.isoformat()}
    if kind is datetime.timedelta:
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    raise NotJsonSafe(f"{kind.__name__} is not JSON-safe")


def export_state(names: dict[str, Any], reserved: set[str], cap: int) -> tuple[dict, list]:
    """Pick the JSON-safe globals of a finished run, within `cap` bytes of JSON in total."""
    kept: dict[str, Any] = {}
    skipped: list[str] = []
    used = 2
    for name, value in names.items():
        if name.startswith("_") or name in reserved:
            continue
        if callable(value):
            imported = _exported(value)
            if imported is not None:
                kept[name] = {"$import": list(imported)}
                used += len(name) + 40
            continue
        try:
            plain = _plain(value, 0)
            size = len(json.dumps(plain, ensure_ascii=False)) + len(name) + 4
        except (NotJsonSafe, RecursionError, ValueError):
            skipped.append(name)
            continue
        if used + size > cap:
            skipped.append(name)
            continue
        kept[name] = plain
        used += size
    return kept, skipped


class _NoClient:
    """The query client of tables revived outside a run (tests, tools): every query is refused."""

    def ask(self, plan: dict[str, Any]) -> dict[str, Any]:
        raise QueryRefused("no-client", "this table was revived outside a run")


def _lazy(pipeline: Any, client: QueryClient) -> LazyTable | None:
    if type(pipeline) is not dict or type(pipeline.get("source")) is not str:
        return None
    steps = pipeline.get("steps")
    if not SLUG.fullmatch(pipeline["source"]) or type(steps) is not list or \
            not all(type(step) is dict for step in steps):
        return None
    return LazyTable(pipeline["source"], tuple(steps), client)


def _tagged(tag: str, body: Any, client: QueryClient) -> Any:  # noqa: C901 - one branch per tag
    """The value a tagged object stands for, or None when it does not revive cleanly."""
    if tag == FRAME_TAG and type(body) is dict:
        return Frame(body.get("columns", []), body.get("types", []), body.get("rows", []))
    if tag == LAZY_TAG:
        return _lazy(body, client)
    if tag == "$module" and type(body) is str and body in ALLOWED:
        return guarded_import(body)
    if tag == "$import" and type(body) is list and len(body) == 2 and body[0] in ALLOWED and type(body[1]) is str:
        view = guarded_import(body[0])
        return getattr(view, body[1]) if body[1] in dir(view) else None
    if tag == GROUP_TAG and type(body) is dict:
        table, keys = _lazy(body.get("table"), client), body.get("keys")
        if table is None or type(keys) is not list or not all(type(key) is str for key in keys):
            return None
        return GroupBy(table, list(keys))
    try:
        if tag == "$datetime" and type(body) is str:
            return datetime.datetime.fromisoformat(body)
        if tag == "$date" and type(body) is str:
            return datetime.date.fromisoformat(body)
        if tag == "$time" and type(body) is str:
            return datetime.time.fromisoformat(body)
        if tag == "$timedelta" and type(body) is list and len(body) == 3 and all(type(p) is int for p in body):
            return datetime.timedelta(days=body[0], seconds=body[1], microseconds=body[2])
    except (ValueError, OverflowError):
        return None
    return None


TAGS = (FRAME_TAG, LAZY_TAG, GROUP_TAG, *DATE_TAGS, *IMPORT_TAGS)


def _revive(value: Any, client: QueryClient) -> Any:
    if type(value) is list:
        return [_revive(item, client) for item in value]
    if type(value) is dict:
        if len(value) == 1:
            tag, body = next(iter(value.items()))
            if tag in TAGS:
                revived = _tagged(tag, body, client)
                if revived is not None:
                    return revived
        return {key: _revive(item, client) for key, item in value.items()}
    return value


def import_state(state: Any, client: QueryClient | None = None) -> dict[str, Any]:
    """Globals for the next run; names starting with `_` are dropped (they are hook names).
    Lazy tables are re-created on `client`, the run's own query client."""
    if type(state) is not dict:
        return {}
    client = client or _NoClient()
    return {name: _revive(value, client) for name, value in state.items()
            if type(name) is str and name.isidentifier() and not name.startswith("_")}
