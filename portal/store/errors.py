"""The store's domain errors.

Every failure the store reports carries a stable kebab-case `code` (what callers and tests switch
on), a human `message`, and where there is one the `line`/`column` of the source file or the
`field` of the query that is wrong. `portal/errors.py` maps `IngestError` and `QueryError` onto
422/400 problems; this module must not import it (the store knows nothing of HTTP).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class IngestError(StoreError):
    """A source file could not be turned into a stored table; nothing was stored."""


class QueryError(StoreError):
    """A row, aggregate or export request names something that does not exist or a bad value.

    `while_running` is True when the error came from evaluating rows (a failed conversion, an
    overflow), not from the request itself: whether it happens depends on the data, which the
    sandbox broker must not let show on conditional data."""

    while_running: bool = False
