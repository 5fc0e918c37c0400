"""The importable modules, as read-only views that expose only a curated public surface.

Handing analyst code a real module object is an escape route: `statistics.sys`,
`fractions.sys`, `json.codecs`, `datetime.sys` and `re.functools` all lead to the interpreter's
internals, and `collections.UserString.format` runs the real `str.format` in host code. So
`import x` returns a `ModuleView` holding only the names listed (or the module's `__all__`
minus submodules and the names in DENIED). These modules are imported by the zygote, so the
worker never touches the file system for an import.
"""

from __future__ import annotations

import _strptime
import collections
import datetime
import decimal
import fractions
import functools
import itertools
import json
import math
import random
import re
import statistics
import time
import types
from typing import Any

_MODULES = {module.__name__: module for module in (
    math, statistics, datetime, itertools, functools, collections, re, json, decimal,
    fractions, random)}

# Why each name is withheld:
#   update_wrapper/wraps/total_ordering: write attributes on any object from host code.
#   singledispatch*: `register` evaluates string annotations with real eval().
#   partialmethod/cached_property: descriptors that write instance state from host code.
#   UserString: its .format calls the real str.format (the advisory's traversal).
#   json.load/dump, JSONEncoder/Decoder: file-like and subclassing hooks, not needed.
#   re.template/RegexFlag: deprecated / an Enum class with a large reflective surface.
DENIED = frozenset({
    "functools.update_wrapper", "functools.wraps", "functools.WRAPPER_ASSIGNMENTS",
    "functools.WRAPPER_UPDATES", "functools.total_ordering", "functools.singledispatch",
    "functools.singledispatchmethod", "functools.partialmethod", "functools.cached_property",
    "collections.UserString", "json.load", "json.dump", "json.JSONEncoder", "json.JSONDecoder",
    "re.template", "re.RegexFlag",
})

ALLOWED = frozenset(_MODULES)


class ModuleView:
    """A read-only stand-in for a module: attribute lookups only, from a fixed dict."""

    __slots__ = ("_name", "_names")

    def __init__(self, name: str, names: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_names", names)

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._names[attr]
        except KeyError:
            raise AttributeError(f"module {self._name!r} has no attribute {attr!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"module {self._name!r} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(self._names)

    def __repr__(self) -> str:
        return f"<module {self._name!r}>"


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in dir(module) if not name.startswith("_")]
    return list(names)


def _surface(module: types.ModuleType) -> dict[str, Any]:
    surface = {}
    for name in _public_names(module):
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) or f"{module.__name__}.{name}" in DENIED:
            continue
        surface[name] = value
    return surface


_VIEWS = {name: ModuleView(name, _surface(module)) for name, module in _MODULES.items()}

# C code in the allowed modules imports these lazily through the *caller's* `__import__`
# (CPython's PyImport_Import reads the current frame's builtins), e.g. `datetime.strptime`
# imports `_strptime` and `date.strftime` imports `time`. They get views holding exactly the
# attributes that C code asks for; analyst code cannot name them (leading underscore, or
# `time` which the transformer allows but which then only offers these two functions).
_HOST_LAZY = {
    "_strptime": ModuleView("_strptime", {
        "_strptime_datetime": _strptime._strptime_datetime,
        "_strptime_time": _strptime._strptime_time}),
    "time": ModuleView("time", {"strftime": time.strftime, "struct_time": time.struct_time}),
}


def guarded_import(name: str, globals: Any = None, locals: Any = None,
                   fromlist: Any = (), level: int = 0) -> ModuleView:
    """The `__import__` analyst code sees: allow-listed, absolute, top-level names only."""
    if type(name) is str and level == 0 and name in _HOST_LAZY:
        return _HOST_LAZY[name]
    if type(name) is not str or level != 0 or name not in _VIEWS:
        shown = name if type(name) is str else type(name).__name__
        raise ImportError(f"import of {shown!r} is not allowed; allowed: "
                          + ", ".join(sorted(ALLOWED)))
    return _VIEWS[name]
