"""Running the sandbox's JSON query plans: one plan -> one DuckDB statement with bound values.

The broker (`portal/analysis/broker.py`) checks grants and the disclosure policy, then calls
`run_plan`, `count_plan` or `plan_schema` here. Plans have passed `sandbox.plan.validate_plan`
(their shape is sound) but every dataset and column name in them is still the analyst's: a
dataset must be in `tables`, and every column is looked up in what is visible at that point of
the pipeline. Inside the SQL, columns are known only by identifiers this module generates
(`_c1`, `_c2`...): a plan name never reaches SQL, a source column reaches it only through
`quote_identifier`, and values only as `?` parameters. Each step is one CTE.

Hidden columns ride along every step and never reach the output: an order column (the source
file's row number, renumbered at `sort`, `group_by` and `join`; the final rows come back in its
order), and, when `row_keys` is given, a record key (a hash of salt and the row's stored
values, all columns, so the same record has the same key in every version of the dataset; a
joined row hashes its pair, unless one side's salt is None: then it keeps the other side's key)
and, from a `group_by` on, the per-cell disclosure statistics computed in the same statement. A cell key is the XOR of its records' keys, so it depends only on the set of records.
A table with a per-person cap (`StoredTable.per_person`, the ε mode's, decision 0030t) adds two
more from its source on: the person and a salted hash of the record's values; at the input of
the aggregation (or of the count, or the rows of a plan without one) each person keeps the
records of least hash, `cap` at most — after the plan's filters, so a query about a person's
rarer records still reads them, and chosen by the person's own records alone. A record whose
person is empty is left out (decision 0030y).

Must not: decide what may be released (the broker and `portal.analysis.disclosure` do) or pass a
DuckDB error message on (it could quote a data value); errors become `QueryError`s.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, replace

from portal.store.errors import QueryError
from portal.store.plan_cells import EMPTY_SKETCH, CellStats, cell_stats, fold_sketches, group_key

# plan statements run on it; tests wrap `plans._cursor` to watch them (round 19)
from portal.store.plan_cursor import query_cursor as _cursor
from portal.store.plan_sql import (
    NULL,
    SKETCH_BUCKETS,
    CellColumns,
    Field,
    Fragment,
    cell_columns,
    compile_aggregation,
    compile_row,
    lookup,
    output_name,
    sketch_sql,
)
from portal.store.queries import where_clause
from portal.store.record_keys import KEY_COLUMN, value_hash_sql
from portal.store.schema import Column, StoredTable, type_from_duckdb
from portal.store.sql import CLAMP, order_key, quote_identifier, quote_literal
from portal.store.sql import where as sql_where

SOURCE = "SELECT {exprs} FROM read_parquet({path}, file_row_number = true)"
# hash(a, b) combines linearly ((hash(a) * C) ^ hash(b)), so in an XOR over an even number of
# records the salt would cancel out: mix the salt into the hash of the row's values, then hash.
# The values, not the file row number: a new version (appended rows, clustering that reorders
# the file) keeps each unchanged record's key, so unchanged cells keep their noise and the
# differencing memory snaps a cell that gained or lost a few records across versions
# (decision 0023e). Two rows equal in every column (identifiers included) share a key.
# `{values}` is the hash of all the row's values: `record_keys.value_hash_sql` over the version
# file, or the column of a version's keyed copy that holds that same hash computed once per
# version (store/record_keys.py, decision 0024a): one expression, so bit for bit the same keys.
RECORD_KEY = "hash(xor(CAST(? AS UBIGINT), {values}))"
PAIR_KEY = "hash(xor({left}, hash({right})))"
PROJECT = "SELECT {exprs} FROM {source}"
FILTER = "SELECT * FROM {source} WHERE {predicate}"
AGGREGATE = "SELECT {exprs} FROM {source} {group}"
JOIN = "SELECT {exprs} FROM {left} {how} JOIN {right} ON {conditions}"
LIMIT = "SELECT * FROM {source} ORDER BY {order} LIMIT ?"
ROW_NUMBER = "row_number() OVER (ORDER BY {keys})"
# Ties of the hash (a record joined onto one lookup row keeps its hash) fall to the order column,
# whose order among one person's rows does not change when another person's rows come or go.
# A record whose person is empty is nobody's to bound: left out. `PARTITION BY` made them one
# person, whose five kept records changed when a person-less target came (thirty-sixth round).
PER_PERSON = ("SELECT * FROM {source} WHERE {person} IS NOT NULL "
              "QUALIFY row_number() OVER (PARTITION BY {person} ORDER BY {rank}, {order}) <= ?")
# A count under the cap: each person's records, at most `cap` of them, summed. The records the
# cap keeps are not needed to count them (Σ min(n, cap) over persons, exactly the rows
# `PER_PERSON` keeps), and the grouped pass is a third of the window's sort (decision 0031d).
PER_PERSON_COUNT = ("WITH {ctes} SELECT coalesce(sum(least(n, ?)), 0) FROM "
                    "(SELECT count(*) AS n FROM {source} WHERE {person} IS NOT NULL GROUP BY {person})")
FINAL = "WITH {ctes} SELECT {exprs} FROM {source} ORDER BY {order} LIMIT ?"
COUNT = "WITH {ctes} SELECT {exprs} FROM {source}"
JOINS = {"inner": "INNER", "left": "LEFT"}


@dataclass(frozen=True)
class PlanResult:
    """The visible output of a plan, and the cell statistics when they were asked for."""

    columns: tuple[Column, ...]
    rows: list[tuple]
    stats: list[CellStats] | None
    aggregated: bool
    truncated: bool


@dataclass(frozen=True)
class _Relation:
    """The result of a pipeline so far: the CTE holding it, its visible and hidden columns."""

    cte: str
    fields: tuple[Field, ...]
    order: str
    key: str | None = None
    stats: CellColumns | None = None
    aggregated: bool = False
    grouped_from: tuple[str, str, tuple[str, ...]] | None = None  # (input CTE, record key, key idents)
    person: tuple[str, str, int] | None = None  # (person ident, rank ident, cap) until the cap is applied

    @property
    def scope(self) -> dict[str, Field]:
        return {field.name: field for field in self.fields}

    def carried(self) -> list[str]:
        """Hidden columns other than the order: the record key, the statistics, the person's."""
        return ([self.key] if self.key else []) + (self.stats.idents() if self.stats else []) + \
            (list(self.person[:2]) if self.person else [])


def run_plan(plan: dict, tables: Mapping[str, StoredTable], *, max_rows: int,
             row_keys: Mapping[str, int | None] | None = None) -> PlanResult:
    """Run a validated plan's pipeline; at most `max_rows` rows, in the pipeline's order.

    With `row_keys` (dataset slug -> secret salt), an aggregated plan's result carries one
    `CellStats` per row, computed in the same statement as the rows. A dataset whose salt is
    None gives its rows no key: a row joined onto it keeps the other side's key (the broker
    keys cells by the conditional records alone, decision 0024c).

    Raises:
        QueryError: `unknown-dataset`, `unknown-column`, `duplicate-column`, `bad-type`,
            `out-of-range`, `unknown-operator`, `invalid-quantile`.
    """
    compiler = _Compiler(tables, row_keys)
    relation = compiler.per_person(compiler.pipeline(plan))
    stats = relation.stats if row_keys is not None else None
    exprs = [f.ident for f in relation.fields] + (stats.idents() if stats else [])
    statement = FINAL.format(ctes=compiler.ctes(), exprs=", ".join(exprs),
                             source=relation.cte, order=relation.order)
    with _cursor() as cur:
        found = cur.execute(statement, [*compiler.params, max_rows + 1]).fetchall()
        columns = _columns(relation, cur.description)
    width = len(relation.fields)
    kept = found[:max_rows]
    cells = [cell_stats(row[width:], stats) for row in kept] if stats else None
    if stats and relation.grouped_from:
        # Always run, even for no rows: the time an answer takes must not tell whether a cell
        # had records (the broker also pads it to a fixed quantum).
        source, record_key, keys = relation.grouped_from
        sketches = _sketches(compiler, source, record_key, list(keys))
        cells = [replace(c, sketch=sketches.get(group_key(row[:len(keys)]), EMPTY_SKETCH)) for c, row in zip(cells, kept, strict=True)]
    return PlanResult(
        columns=columns, rows=[tuple(row[:width]) for row in kept], stats=cells,
        aggregated=relation.aggregated, truncated=len(found) > max_rows,
    )


def plan_schema(plan: dict, tables: Mapping[str, StoredTable]) -> tuple[Column, ...]:
    """The columns (names and store types) a plan's result has, without reading its rows.

    Raises:
        QueryError: as `run_plan`.
    """
    compiler = _Compiler(tables, None)
    relation = compiler.pipeline(plan)
    exprs = ", ".join(f.ident for f in relation.fields)
    statement = FINAL.format(ctes=compiler.ctes(), exprs=exprs, source=relation.cte,
                             order=relation.order)
    with _cursor() as cur:
        cur.execute(statement, [*compiler.params, 0]).fetchall()
        return _columns(relation, cur.description)


def count_plan(plan: dict, tables: Mapping[str, StoredTable], *,
               row_keys: Mapping[str, int | None] | None = None) -> tuple[int, CellStats | None]:
    """How many rows a plan's pipeline gives, and with `row_keys` the statistics of that one
    count as a cell (its key is the same as `group_by([]).agg(count())` of the same records).

    Raises:
        QueryError: as `run_plan`.
    """
    compiler = _Compiler(tables, row_keys)
    relation = compiler.pipeline(plan)
    if relation.person is not None and not relation.key:
        person, _, cap = relation.person
        statement = PER_PERSON_COUNT.format(ctes=compiler.ctes(), source=relation.cte, person=person)
        with _cursor() as cur:
            return int(cur.execute(statement, [*compiler.params, cap]).fetchone()[0]), None
    relation = compiler.per_person(relation)
    if row_keys is not None and relation.key:
        # Differencing control reads the cell's sketch anyway, and its first partition holds every
        # record once: its buckets' counts add up to the count and their key XORs to the cell's
        # key. One grouped pass instead of a count and then the pass (a conditional count's
        # work inside its answer quantum; decision 0023b).
        sketch = _sketches(compiler, relation.cte, relation.key, []).get((), EMPTY_SKETCH)
        first = [sketch[3 * bucket:3 * bucket + 2] for bucket in range(SKETCH_BUCKETS)]
        count = sum(records for records, _ in first)
        key = functools.reduce(operator.xor, (keys for _, keys in first), 0)
        return count, CellStats(count, key, (count,), sketch)
    exprs = ["count(*)"] + ([f"bit_xor({relation.key})"] if relation.key else [])
    statement = COUNT.format(ctes=compiler.ctes(), exprs=", ".join(exprs), source=relation.cte)
    with _cursor() as cur:
        found = cur.execute(statement, compiler.params).fetchone()
    return int(found[0]), None


class _Compiler:
    """Builds the CTEs of one statement; parameters are kept in the textual order of the SQL."""

    def __init__(self, tables: Mapping[str, StoredTable], row_keys: Mapping[str, int | None] | None):
        self.tables = tables
        self.row_keys = row_keys
        self.params: list[object] = []
        self._ctes: list[str] = []
        self._serial = 0

    def ident(self, prefix: str) -> str:
        self._serial += 1
        return f"_{prefix}{self._serial}"

    def ctes(self) -> str:
        return ", ".join(self._ctes)

    def add(self, select: str, params: list[object] | tuple = ()) -> str:
        name = self.ident("t")
        self._ctes.append(f"{name} AS ({select})")
        self.params.extend(params)
        return name

    def pipeline(self, node: dict) -> _Relation:
        relation = self.source(node["source"])
        for step in node["steps"]:
            handler = _STEPS.get(step.get("op"))
            if handler is None:
                raise QueryError("unknown-operator", f"unknown step {step.get('op')!r}")
            relation = handler(self, relation, step)
        return relation

    def source(self, slug: str) -> _Relation:
        table = self.tables.get(slug)
        if table is None:
            raise QueryError("unknown-dataset", f"there is no dataset {slug!r}", field=slug)
        bounds = {name: (low, high) for name, low, high in table.bounds}
        fields = tuple(Field(c.name, self.ident("c"), "float" if c.type == "decimal" and c.name in bounds else c.type)
                       for c in table.columns if table.visible is None or c.name in table.visible)
        exprs, params = [], []
        for f in fields:
            if f.name in bounds:
                clamp = CLAMP.format(value=quote_identifier(f.name), type="BIGINT" if f.type == "integer" else "DOUBLE")
                exprs.append(f"{clamp} AS {f.ident}")
                params += list(bounds[f.name])
            else:
                exprs.append(f"{quote_identifier(f.name)} AS {f.ident}")
        order = self.ident("o")
        exprs.append(f"file_row_number AS {order}")
        key, path = None, table.path
        if self.row_keys is not None:
            if slug not in self.row_keys:
                raise QueryError("unknown-dataset", f"no record-key salt for {slug!r}", field=slug)
        # the same rows and columns, plus the values' hash; else the values are hashed here
        values = quote_identifier(KEY_COLUMN) if table.keyed is not None else value_hash_sql(table)
        if self.row_keys is not None and self.row_keys[slug] is not None:
            key = self.ident("k")
            path = table.keyed or path
            exprs.append(f"{RECORD_KEY.format(values=values)} AS {key}")
            params.append(int(self.row_keys[slug]) % 2**64)
        person = None
        if table.per_person is not None:
            person = self._person(table, exprs, params, values)
            path = table.keyed or path
        select = SOURCE.format(exprs=", ".join(exprs), path=quote_literal(str(path)))
        if table.row_filter:  # a grant's rows only: the filter sees every column, plans only `visible`
            conditions, values = where_clause(table, table.row_filter)
            select += " " + sql_where(conditions)
            params += values
        return _Relation(self.add(select, params), fields, order, key, person=person)

    def _person(self, table: StoredTable, exprs: list[str], params: list, values: str) -> tuple[str, str, int]:
        """The person's hidden columns: who, and the salted hash of the record that ranks it
        among that person's records (a function of the record alone: never of other people's).

        Raises:
            QueryError: `unknown-column` when the table has no such column (a plan error: every
                plan of the table is refused, whatever the records).
        """
        cap = table.per_person
        if table.column(cap.column) is None:
            raise QueryError("unknown-column", "the dataset's declared person field is not one of its columns")
        person, rank = self.ident("p"), self.ident("r")
        exprs += [f"{quote_identifier(cap.column)} AS {person}", f"{RECORD_KEY.format(values=values)} AS {rank}"]
        params.append(int(cap.salt) % 2**64)
        return person, rank, int(cap.cap)

    def project(self, relation: _Relation, items: list[tuple[str, Fragment]]) -> _Relation:
        """A SELECT of `items` (plan name, expression) plus the hidden columns."""
        _unique([name for name, _ in items])
        fields, exprs, params = [], [], []
        for name, fragment in items:
            ident = self.ident("c")
            fields.append(Field(name, ident, fragment.type))
            exprs.append(f"{fragment.sql} AS {ident}")
            params.extend(fragment.params)
        exprs += [relation.order, *relation.carried()]
        cte = self.add(PROJECT.format(exprs=", ".join(exprs), source=relation.cte), params)
        return replace(relation, cte=cte, fields=tuple(fields))

    def per_person(self, relation: _Relation) -> _Relation:
        """At most `cap` records of each person: the relation's person columns are dropped after."""
        if relation.person is None:
            return relation
        person, rank, cap = relation.person
        cte = self.add(PER_PERSON.format(source=relation.cte, person=person, rank=rank, order=relation.order), [cap])
        return replace(relation, cte=cte, person=None)

    def renumber(self, keys: list[str]) -> tuple[str, str]:
        """A new order column: (its SQL, its identifier)."""
        return ROW_NUMBER.format(keys=", ".join(keys)), self.ident("o")


def _filter(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    predicate = compile_row(step["predicate"], relation.scope)
    if predicate.type not in ("boolean", NULL):
        raise QueryError("bad-type", f"a filter needs a true/false condition, but "
                                     f"{predicate.label} is {predicate.type}")
    cte = compiler.add(FILTER.format(source=relation.cte, predicate=predicate.sql),
                       predicate.params)
    return replace(relation, cte=cte)


def _select(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    scope = relation.scope
    items = [(output_name(node), compile_row(node, scope)) for node in step["columns"]]
    return compiler.project(relation, items)


def _with_columns(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    # Every new expression sees the input columns (Polars): none sees a sibling's result.
    scope = relation.scope
    added = [(output_name(node), compile_row(node, scope)) for node in step["columns"]]
    _unique([name for name, _ in added])
    new = dict(added)
    kept = [(f.name, new.pop(f.name, None) or Fragment(f.ident, (), f.type))
            for f in relation.fields]
    return compiler.project(relation, kept + list(new.items()))


def _group_by(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    relation = compiler.per_person(relation)
    keys = [lookup(relation.scope, name) for name in step["keys"]]
    aggs = [compile_aggregation(node, relation.scope) for node in step["aggs"]]
    _unique([k.name for k in keys] + [a.name for a in aggs])
    fields = [Field(k.name, compiler.ident("c"), k.type) for k in keys]
    fields += [Field(a.name, compiler.ident("c"), a.value.type) for a in aggs]
    parts = [Fragment(k.ident) for k in keys] + [a.value for a in aggs]
    order_sql, order = compiler.renumber([order_key(k.ident, False) for k in keys] or ["1"])
    exprs = [f"{p.sql} AS {f.ident}" for p, f in zip(parts, fields, strict=True)]
    exprs.append(f"{order_sql} AS {order}")
    params = [value for part in parts for value in part.params]
    key = stats = None
    if relation.key:
        stats, hidden, hidden_params = cell_columns(relation.key, aggs, compiler.ident)
        key = stats.key
        exprs += hidden
        params += hidden_params
    group = "GROUP BY " + ", ".join(k.ident for k in keys) if keys else ""
    cte = compiler.add(AGGREGATE.format(exprs=", ".join(exprs), source=relation.cte, group=group),
                       params)
    grouped_from = (relation.cte, relation.key, tuple(k.ident for k in keys)) if relation.key else None
    return _Relation(cte, tuple(fields), order, key, stats, aggregated=True, grouped_from=grouped_from)


def _join(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    right = compiler.pipeline(step["right"])
    if relation.person and right.person:
        raise QueryError("one-conditional-source", "a plan may read one person-capped dataset, once")
    if right.person:  # the store's own guard: the broker starts plans from the conditional dataset
        raise QueryError("conditional-first", "a person-capped dataset is the plan's main source")
    pairs = [(lookup(relation.scope, n), lookup(right.scope, n)) for n in step["on"]]
    for left_key, right_key in pairs:
        _joinable(left_key, right_key)
    fields = list(relation.fields)
    taken = {f.name for f in fields}
    for field in right.fields:
        if field.name not in step["on"]:
            name = field.name + "_right" if field.name in taken else field.name
            fields.append(replace(field, name=name))
    _unique([f.name for f in fields])
    order_sql, order = compiler.renumber([relation.order, order_key(right.order, False)])
    exprs = [f.ident for f in fields] + [f"{order_sql} AS {order}"]
    key = _joined_key(compiler, relation.key, right.key, exprs)
    stats = relation.stats or right.stats
    exprs += stats.idents() if stats else []
    exprs += list(relation.person[:2]) if relation.person else []
    conditions = " AND ".join(f"{left.ident} = {r.ident}" for left, r in pairs)
    cte = compiler.add(JOIN.format(exprs=", ".join(exprs), left=relation.cte,
                                   how=JOINS[step["how"]], right=right.cte, conditions=conditions))
    return _Relation(cte, tuple(fields), order, key, stats,
                     aggregated=relation.aggregated or right.aggregated, person=relation.person)


def _joinable(left: Field, right: Field) -> None:
    """Join keys compare as they group: both sides of one type (as in Polars, whose joins refuse
    keys of different dtypes), and not decimal. DuckDB compares an integer with a float as two
    floats, so the right side's distinct integers 2^60 + 1 ... 2^60 + 10 all matched the left's
    2^60.0: ten rows per record, while the broker's check of the lookup (rows per key, grouped as
    the right side's own integers) saw one. Each record counted ten times, and its key XORed ten
    times cancelled, so every cell had the key 0 and the same draw: a count was ten times the
    exact number of records, one visit's set listed as 10 and an empty one not (eleventh round,
    decision 0027d). Two decimals of different scales compare in a common type that may not hold
    them (a conversion error) or in DOUBLE (rounding), so decimal keys are cast to number first.

    Raises:
        QueryError: `bad-type`.
    """
    types = (left.type, right.type)
    if NULL in types:
        return
    if types[0] != types[1] or "decimal" in types:
        hint = "cast one side so that both are the same type" if "decimal" not in types else \
            "cast decimal keys to number on both sides"
        raise QueryError("bad-type", f"cannot join {left.name!r}: {left.type} on the left, {right.type} "
                                     f"on the right ({hint})", field=left.name)


def _joined_key(compiler: _Compiler, left: str | None, right: str | None,
                exprs: list[str]) -> str | None:
    """A joined row's record key: a hash of the pair, so each (left, right) pair is a record; or
    the one side's key, carried through, when the other side has none."""
    if not left or not right:
        if left or right:
            exprs.append(left or right)
        return left or right
    key = compiler.ident("k")
    exprs.append(f"{PAIR_KEY.format(left=left, right=right)} AS {key}")
    return key


def _sort(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    # The previous order breaks ties, so the sort is stable like Python's (and the fake's).
    scope = relation.scope
    keys = [order_key(lookup(scope, b["column"]).ident, b["descending"]) for b in step["by"]]
    order_sql, order = compiler.renumber(keys + [relation.order])
    exprs = [f.ident for f in relation.fields] + [f"{order_sql} AS {order}", *relation.carried()]
    cte = compiler.add(PROJECT.format(exprs=", ".join(exprs), source=relation.cte))
    return replace(relation, cte=cte, order=order)


def _limit(compiler: _Compiler, relation: _Relation, step: dict) -> _Relation:
    n = step["n"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise QueryError("invalid-limit", "limit needs a whole number of rows, 0 or more",
                         field="n")
    cte = compiler.add(LIMIT.format(source=relation.cte, order=relation.order), [n])
    return replace(relation, cte=cte)


_STEPS = {"filter": _filter, "select": _select, "with_columns": _with_columns,
          "group_by": _group_by, "join": _join, "sort": _sort, "limit": _limit}


def _unique(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise QueryError("duplicate-column", f"two output columns are called {name!r}: "
                                                 "rename one with alias()", field=name)
        seen.add(name)


def _columns(relation: _Relation, description) -> tuple[Column, ...]:
    return tuple(Column(f.name, type_from_duckdb(str(d[1])))
                 for f, d in zip(relation.fields, description, strict=False))


def _sketches(compiler: _Compiler, source: str, record_key: str, keys: list[str]) -> dict[tuple, tuple[int, ...]]:
    """Per group (by the values of `keys` in `source`), its sketch (`plan_cells.fold_sketches`)."""
    statement = f"WITH {compiler.ctes()}, {sketch_sql(source, record_key, keys)}"
    with _cursor() as cur:
        return fold_sketches(cur.execute(statement, compiler.params).fetchall(), len(keys))
