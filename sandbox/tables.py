"""The worker's data API: lazy tables that build plans, and frames of released values.

A `LazyTable` holds a dataset slug and a tuple of plan steps, never rows: it has `__slots__`,
no `__iter__`, `__len__` or `__getitem__`, and its repr names only the dataset. Each terminal
call (`collect`, `count`, `schema`) sends ONE plan through the run's `QueryClient`; the
supervisor validates it and asks the broker in the trusted process. What comes back is a
`Frame`: a small read-only table of values the broker decided to release.
"""

from __future__ import annotations

from typing import Any, Protocol

from sandbox.expressions import Expr, column_node
from sandbox.plan import PLAN_VERSION, SLUG


class QueryRefused(Exception):
    """The broker (or the supervisor) refused a query; `rule` names the rule that applied."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"query refused ({rule}): {reason}")
        self.rule = rule
        self.reason = reason


class QueryClient(Protocol):
    def ask(self, plan: dict[str, Any]) -> dict[str, Any]: ...


class Frame:
    """Released values: `.columns`, `.rows`, `.to_dicts()`, iteration over row tuples."""

    __slots__ = ("_columns", "_types", "_rows")

    def __init__(self, columns: list[str], types: list[str], rows: list[list[Any]]):
        object.__setattr__(self, "_columns", tuple(columns))
        object.__setattr__(self, "_types", tuple(types))
        object.__setattr__(self, "_rows", tuple(tuple(row) for row in rows))

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("a frame is read-only")

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Frame:
        columns = answer.get("columns") or []
        names = [str(column.get("name")) for column in columns]
        types = [str(column.get("type", "")) for column in columns]
        return cls(names, types, answer.get("rows") or [])

    @property
    def columns(self) -> tuple[str, ...]:
        return self._columns

    @property
    def dtypes(self) -> tuple[str, ...]:
        return self._types

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        return self._rows

    @property
    def height(self) -> int:
        return len(self._rows)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self._rows), len(self._columns))

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self._columns, row, strict=True)) for row in self._rows]

    def column(self, name: str) -> list[Any]:
        if name not in self._columns:
            raise KeyError(f"no column {name!r}; columns are {list(self._columns)}")
        index = self._columns.index(name)
        return [row[index] for row in self._rows]

    def __getitem__(self, name: str) -> list[Any]:
        return self.column(name)

    def __iter__(self) -> Any:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"<frame {len(self._rows)} rows x {len(self._columns)} columns>"


class LazyTable:
    """A query under construction. Only `collect()`, `count()` and `schema` reach the broker."""

    __slots__ = ("_source", "_steps", "_client")
    holds_no_rows = True

    def __init__(self, source: str, steps: tuple[dict[str, Any], ...], client: QueryClient):
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_steps", steps)
        object.__setattr__(self, "_client", client)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("a lazy table is read-only")

    def __repr__(self) -> str:
        return f"<lazy table {self._source!r}>"

    def _then(self, step: dict[str, Any]) -> LazyTable:
        return LazyTable(self._source, (*self._steps, step), self._client)

    def pipeline(self) -> dict[str, Any]:
        """The JSON form of this table: a source and its steps (what a join embeds)."""
        return {"source": self._source, "steps": [dict(step) for step in self._steps]}

    def _plan(self, action: str) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "action": action, **self.pipeline()}

    def select(self, *columns: Any) -> LazyTable:
        return self._then({"op": "select", "columns": [column_node(c) for c in columns]})

    def with_columns(self, *columns: Any) -> LazyTable:
        return self._then({"op": "with_columns", "columns": [column_node(c) for c in columns]})

    def filter(self, predicate: Expr) -> LazyTable:
        if not isinstance(predicate, Expr):
            raise TypeError("filter() takes a column expression such as col('age') >= 60")
        return self._then({"op": "filter", "predicate": predicate._node})

    def group_by(self, *keys: Any) -> GroupBy:
        names = [column_node(key) for key in keys]
        if any(node["op"] != "col" for node in names):
            raise TypeError("group_by() takes column names")
        return GroupBy(self, [node["name"] for node in names])

    def agg(self, *aggs: Expr) -> LazyTable:
        """Aggregate the whole table (a group_by without keys)."""
        return GroupBy(self, []).agg(*aggs)

    def join(self, other: LazyTable, on: Any, how: str = "inner") -> LazyTable:
        if not isinstance(other, LazyTable):
            raise TypeError("join() takes another dataset(...) table")
        keys = [on] if type(on) is str else list(on)
        return self._then({"op": "join", "right": other.pipeline(), "on": keys, "how": how})

    def sort(self, by: Any, descending: bool = False) -> LazyTable:
        names = [by] if type(by) is str else list(by)
        keys = [{"column": name, "descending": bool(descending)} for name in names]
        return self._then({"op": "sort", "by": keys})

    def limit(self, n: int) -> LazyTable:
        if type(n) is not int or n < 0:
            raise TypeError("limit() takes a non-negative integer")
        return self._then({"op": "limit", "n": n})

    def head(self, n: int = 10) -> Frame:
        return self.limit(n).collect()

    def collect(self) -> Frame:
        return Frame.from_answer(self._client.ask(self._plan("collect")))

    def count(self) -> int:
        return self._client.ask(self._plan("count"))["count"]

    @property
    def schema(self) -> dict[str, str]:
        answer = self._client.ask(self._plan("schema"))
        return {column["name"]: column["type"] for column in answer["columns"]}

    @property
    def columns(self) -> list[str]:
        """The result's column names, as a frame's `.columns` and polars' `LazyFrame.columns` give
        them: analysts reach for it first, and without it got an AttributeError. One schema plan."""
        return list(self.schema)


class GroupBy:
    """`table.group_by("district").agg(count(), mean("age"))`."""

    __slots__ = ("_table", "_keys")
    holds_no_rows = True

    def __init__(self, table: LazyTable, keys: list[str]):
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_keys", keys)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("read-only")

    def __repr__(self) -> str:
        return f"<group by {self._keys}>"

    def agg(self, *aggs: Expr) -> LazyTable:
        if not aggs or not all(isinstance(a, Expr) for a in aggs):
            raise TypeError("agg() takes aggregations such as count() or mean('age')")
        step = {"op": "group_by", "keys": list(self._keys), "aggs": [a._node for a in aggs]}
        return self._table._then(step)


def dataset_factory(client: QueryClient) -> Any:
    """The `dataset("slug")` function analyst code calls; it does not contact the broker."""

    def dataset(slug: str) -> LazyTable:
        if type(slug) is not str or not SLUG.fullmatch(slug):
            raise ValueError("dataset() takes a dataset slug such as 'population-2024'")
        return LazyTable(slug, (), client)

    return dataset
