"""Wall 1, the language: how analyst source is compiled and which names its code can reach.

`compile_source` runs RestrictedPython 9's AST rewrite; `restricted_globals` binds every hook the
rewritten code calls. The policy assumes it will be bypassed one day (see the research notes):
it runs inside the confined worker of wall 2, which holds no data and no secrets.

Builtins decision: RestrictedPython 9 dropped `sorted/tuple/zip/reversed/bytes` because they
iterate in C and skip `_getiter_`. Our `_getiter_` gives no per-item protection (there are no
Zope-style security declarations to enforce); its only job is to stop iteration of lazy tables,
and those define no `__iter__`, so C-level iteration cannot reach them either. We therefore
offer `tuple`, `sorted`, `zip`, `reversed`, `enumerate`, `min`, `max`, `sum`... for usability.
Offered nowhere: `type`, `object`, `super`, `vars`, `dir`, `globals`, `locals`, `open`,
`compile`, `eval`, `exec`, `format`, `bytes`, `bytearray`, `memoryview`, `breakpoint`, `input`.
"""

from __future__ import annotations

import builtins
import operator
import re
from dataclasses import dataclass
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
    safer_getattr_raise,
)

from sandbox.modules import ModuleView, guarded_import

FILENAME = "<analysis>"
MAX_RANGE = 10_000_000
_LINE = re.compile(r"^Line (\d+):\s*")

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
    "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}

_EXTRA_BUILTINS = ("list", "tuple", "dict", "set", "frozenset", "sorted", "reversed", "zip",
                   "enumerate", "map", "filter", "min", "max", "sum", "any", "all", "iter",
                   "next", "StopIteration")
_WITHHELD = ("id",)


class CompileFailure(Exception):
    """The source did not compile under the policy; `line` is in the analyst's source."""

    def __init__(self, kind: str, message: str, line: int | None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


class NoRows(TypeError):
    """Raised when code tries to index or iterate something that deliberately holds no rows."""


@dataclass(frozen=True)
class Hooks:
    """The per-run objects the compiled code reaches through hook names."""

    printer: Any
    names: dict[str, Any]


def compile_source(source: str) -> CodeType:
    """Compile under RestrictedPython.

    Raises:
        CompileFailure: syntax errors and refused constructs, with the line number.
    """
    try:
        result = compile_restricted_exec(source, FILENAME)
    except (RecursionError, MemoryError, ValueError) as exc:
        raise CompileFailure("SyntaxError", "the source is too deeply nested or too large to "
                             f"compile ({type(exc).__name__})", None) from None
    if result.errors or result.code is None:
        first = result.errors[0] if result.errors else "compilation failed"
        match = _LINE.match(first)
        line = int(match.group(1)) if match else None
        text = first[match.end():] if match else first
        kind = "SyntaxError" if text.startswith("SyntaxError") else "PolicyError"
        text = text.removeprefix("SyntaxError: ")
        raise CompileFailure(kind, text, line)
    return result.code


def guarded_getattr(obj: Any, name: Any, *default: Any) -> Any:
    """`safer_getattr` (format, Formatter, `_` names, frame attributes, name type) plus ours.

    Ours: the `obj` of an AttributeError/NameError is withheld (CVE-2024-47532 exposed a real
    module through it).
    """
    if type(name) is str and name == "obj" and isinstance(obj, (AttributeError, NameError)):
        raise AttributeError('"obj" of an exception is withheld in the sandbox')
    if len(default) > 1:
        raise TypeError("getattr expected at most 3 arguments")
    if default:
        return safer_getattr(obj, name, default[0])
    return safer_getattr_raise(obj, name)


def guarded_hasattr(obj: Any, name: Any) -> bool:
    try:
        guarded_getattr(obj, name)
    except (AttributeError, NotImplementedError):
        return False
    return True


def guarded_getitem(obj: Any, index: Any) -> Any:
    if getattr(type(obj), "holds_no_rows", False) or isinstance(obj, ModuleView):
        raise NoRows(f"{obj!r} cannot be indexed; call .collect() to get released rows")
    return obj[index]


def guarded_getiter(obj: Any) -> Any:
    if getattr(type(obj), "holds_no_rows", False) or isinstance(obj, ModuleView):
        raise NoRows(f"{obj!r} cannot be iterated; call .collect() to get released rows")
    return iter(obj)


def guarded_range(*args: int) -> range:
    span = range(*args)
    if len(span) > MAX_RANGE:
        raise ValueError(f"range() of more than {MAX_RANGE} items is not allowed")
    return span


def inplacevar(op: str, target: Any, value: Any) -> Any:
    try:
        return _INPLACE[op](target, value)
    except KeyError:
        raise TypeError(f"unsupported in-place operator {op}") from None


def apply_call(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _builtins(names: dict[str, Any]) -> dict[str, Any]:
    table = {name: value for name, value in safe_builtins.items() if name not in _WITHHELD}
    table.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
    table.update(range=guarded_range, getattr=guarded_getattr, hasattr=guarded_hasattr,
                 __import__=guarded_import, _getattr_=guarded_getattr)
    table.update(names)
    return table


def restricted_globals(hooks: Hooks) -> dict[str, Any]:
    """Fresh globals for one run, every hook bound. `hooks.names` are the data/output API."""
    return {
        "__builtins__": _builtins(hooks.names),
        "__name__": "analysis",
        "__metaclass__": type,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": inplacevar,
        "_apply_": apply_call,
        "_print_": lambda _getattr_=None: hooks.printer,
    }
