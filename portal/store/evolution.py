"""Schema evolution between versions: the type a column keeps when a new file is loaded.

The recorded type of a column (from the dataset's current version) is never forced onto a new
file: that silently turned `010101` into `10101` once. Instead the new version's column gets the
narrowest type that holds both the recorded type's values and every new value exactly:

    integer + decimal -> decimal      integer or decimal + float -> float
    date + timestamp  -> timestamp    anything else that differs -> text

and a column whose new values fit the recorded type keeps it (a text column of codes stays text
when a new file happens to hold only digits). Every change is reported (`TypeChange`, with a value
that forced it) in the load output and the version's record. Types the publisher *declared* are
not widened: a value that does not fit them is refused (`type-conflict`, see conversion.py).
"""

from __future__ import annotations

from dataclasses import dataclass

_JOINS = {
    frozenset({"integer", "decimal"}): "decimal",
    frozenset({"integer", "float"}): "float",
    frozenset({"decimal", "float"}): "float",
    frozenset({"date", "timestamp"}): "timestamp",
}


@dataclass(frozen=True)
class TypeChange:
    """A column whose type differs from the previous version's, and a value that made it so."""

    column: str
    before: str
    after: str
    example: str | None

    def describe(self) -> str:
        value = f" (e.g. {self.example!r})" if self.example is not None else ""
        return f"column {self.column!r} widened from {self.before} to {self.after}{value}"

    def as_dict(self) -> dict[str, str | None]:
        return {"column": self.column, "from": self.before, "to": self.after,
                "example": self.example}


def widen(before: str | None, inferred: str) -> str:
    """The type of a column recorded as `before` whose new values were inferred as `inferred`."""
    if before is None or before == inferred:
        return inferred
    if before == "text":
        return "text"
    return _JOINS.get(frozenset({before, inferred}), "text")
