"""Notebook state: the JSON-safe variables of one run, handed to the next one.

Only plain data survives (None, bool, bounded int, finite float, str, lists/tuples and
str-keyed dicts of those, and released `Frame`s, tagged as {"$frame": ...}). Functions,
classes, modules, lazy tables and anything else are skipped and named in the run's message,
so the state is always valid JSON the portal may store.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sandbox.modules import ModuleView
from sandbox.tables import Frame

FRAME_TAG = "$frame"
MAX_DEPTH = 20
MAX_INT_BITS = 256


class NotJsonSafe(ValueError):
    pass


def _plain(value: Any, depth: int) -> Any:
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
    raise NotJsonSafe(f"{kind.__name__} is not JSON-safe")


def export_state(names: dict[str, Any], reserved: set[str], cap: int) -> tuple[dict, list]:
    """Pick the JSON-safe globals of a finished run, within `cap` bytes of JSON in total."""
    kept: dict[str, Any] = {}
    skipped: list[str] = []
    used = 2
    for name, value in names.items():
        if name.startswith("_") or name in reserved or callable(value):
            continue
        if isinstance(value, ModuleView):
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


def _revive(value: Any) -> Any:
    if type(value) is list:
        return [_revive(item) for item in value]
    if type(value) is dict:
        frame = value.get(FRAME_TAG) if len(value) == 1 else None
        if type(frame) is dict:
            return Frame(frame.get("columns", []), frame.get("types", []), frame.get("rows", []))
        return {key: _revive(item) for key, item in value.items()}
    return value


def import_state(state: Any) -> dict[str, Any]:
    """Globals for the next run; names starting with `_` are dropped (they are hook names)."""
    if type(state) is not dict:
        return {}
    return {name: _revive(value) for name, value in state.items()
            if type(name) is str and name.isidentifier() and not name.startswith("_")}
