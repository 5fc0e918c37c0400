"""CKAN's `datastore_search` over the store: resource ids, filters, `q`, sort, fields, paging.

A resource id is any of a dataset's CKAN resource ids, or its slug (a DataStore "alias"). Rows
come from `records.search_rows`, which refuses conditional and closed datasets before reading
anything (Authorization Error). Types are reported with CKAN's PostgreSQL names and each field
carries its data dictionary entry in `info`, as CKAN's data dictionary does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from portal import store
from portal.api.ckan_params import (
    boolean,
    check_keys,
    integer,
    invalid,
    json_object,
    required_text,
    text_list,
)
from portal.auth import Actor
from portal.catalog import records
from portal.catalog.schemas import DatasetDetail
from portal.errors import NotFound
from portal.interop import ckan
from portal.serialise import plain

ROWS_DEFAULT, ROWS_MAX = 100, 10_000
CKAN_TYPES = {"integer": "int8", "float": "float8", "decimal": "numeric", "boolean": "bool", "date": "date",
              "timestamp": "timestamp", "text": "text", "geometry": "text"}
FILTER_OPS = {"eq": "eq", "in": "in", "lt": "lt", "lte": "le", "gt": "gt", "gte": "ge"}
KEYS = frozenset({"resource_id", "id", "filters", "q", "full_text", "limit", "offset", "sort", "fields",
                  "include_total", "records_format", "distinct", "plain", "language", "total_estimation_threshold"})


def search(session: Session, actor: Actor, data: dict, *, data_dir: Path,
           next_url: Callable[[dict], str]) -> dict[str, Any]:
    check_keys(data, KEYS)
    wanted = required_text(data, "resource_id" if "resource_id" in data or "id" not in data else "id")
    record = records.get_record(session, actor, _slug_for(session, actor, wanted))
    query = _row_query(data)
    page = records.search_rows(session, actor, record.summary.slug, query, data_dir=data_dir)
    as_lists = _records_format(data) == "lists"
    rows = [plain(list(row)) for row in page.rows]
    names = [c.name for c in page.columns]
    result = {
        "resource_id": wanted, "fields": _fields(record, page.columns),
        "records": rows if as_lists else [dict(zip(names, row, strict=True)) for row in rows],
        "records_format": "lists" if as_lists else "objects",
        "limit": query.limit, "offset": query.offset, "include_total": query.with_total,
        "total_was_estimated": False, "_links": _links(data, wanted, query, next_url),
    }
    if page.total is not None:
        result["total"] = page.total
    for echoed in ("filters", "q", "sort"):
        if data.get(echoed) not in (None, ""):
            result[echoed] = data[echoed]
    return result


def _slug_for(session: Session, actor: Actor, wanted: str) -> str:
    for slug in records.list_slugs(session, actor):
        if wanted == slug or any(wanted == ckan.resource_id(slug, kind) for kind in ckan.RESOURCE_KINDS):
            return slug
    raise NotFound("resource", wanted)


def _row_query(data: dict) -> store.RowQuery:
    if boolean(data, "distinct", False):
        raise invalid("distinct", "distinct is not supported; use an aggregate in the sandbox")
    fields = [f for f in (text_list(data, "fields") or []) if f != "_id"] or None
    return store.RowQuery(
        filters=(*_filters(data), *_text_filters(data)), sort=_sort(data.get("sort")),
        fields=tuple(fields) if fields else None,
        limit=integer(data, "limit", ROWS_DEFAULT, minimum=1, maximum=ROWS_MAX, clamp=True),
        offset=integer(data, "offset", 0), with_total=boolean(data, "include_total", True))


def _filters(data: dict) -> list[store.Filter]:
    """`{"col": v}`, `{"col": [v, w]}` (any of) and `{"col": {"gte": v, "lt": w}}`."""
    made = []
    for column, value in (json_object(data, "filters") or {}).items():
        if isinstance(value, dict):
            for op, operand in value.items():
                if op not in FILTER_OPS:
                    raise invalid("filters", f"Unknown filter operation {op!r} on {column!r}; one of {', '.join(FILTER_OPS)}")
                made.append(store.Filter(column, FILTER_OPS[op], _operand(operand)))
        elif isinstance(value, list):
            made.append(store.Filter(column, "in", [_scalar(v) for v in value]))
        else:
            made.append(store.Filter(column, "eq", _scalar(value)))
    return made


def _operand(value: Any) -> Any:
    return [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise invalid("filters", "filter values are text or numbers")
    return value if value is None or isinstance(value, str) else str(value)


def _text_filters(data: dict) -> list:
    """`q` as text (any column contains it), or `{"col": "text"}` (that column contains it)."""
    made = []
    text = data.get("full_text") or data.get("q")
    if isinstance(text, str) and text.strip().startswith("{"):
        text = json_object({"q": text}, "q")
    if isinstance(text, dict):
        made += [store.Filter(column, "contains", _scalar(value)) for column, value in text.items()]
    elif isinstance(text, str) and text.strip():
        made.append(store.TextMatch(text.strip()[:200]))
    elif text not in (None, ""):
        raise invalid("q", "Must be text or a JSON object of column: text")
    return made


def _sort(raw: Any) -> tuple[store.Sort, ...]:
    """`"col desc, other"`; `_id` (CKAN's row id) is the stored order, the default anyway."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, str):
        raise invalid("sort", "Must be text such as 'column desc, other asc'")
    sorts = []
    for part in [p.strip() for p in raw.split(",") if p.strip()][:5]:
        pieces = part.replace('"', "").split()
        direction = pieces[1].lower() if len(pieces) > 1 else "asc"
        if direction not in ("asc", "desc") or len(pieces) > 2:
            raise invalid("sort", f"cannot read {part[:60]!r}; use 'column asc' or 'column desc'")
        if pieces[0] != "_id":
            sorts.append(store.Sort(pieces[0], direction == "desc"))
    return tuple(sorts)


def _records_format(data: dict) -> str:
    value = data.get("records_format") or "objects"
    if value not in ("objects", "lists"):
        raise invalid("records_format", "objects or lists")
    return value


def _fields(record: DatasetDetail, columns) -> list[dict[str, Any]]:
    described = {f.name: f for f in record.fields}
    made = []
    for column in columns:
        entry: dict[str, Any] = {"id": column.name, "type": CKAN_TYPES.get(column.type, "text")}
        info = described.get(column.name)
        if info is not None:
            entry["info"] = {"label": info.description_zh or column.name, "notes": info.description_en,
                             "type_override": "", "unit": info.unit or ""}
        made.append(entry)
    return made


def _links(data: dict, wanted: str, query: store.RowQuery, next_url: Callable[[dict], str]) -> dict[str, str]:
    args = {"resource_id": wanted}
    for key in ("filters", "q", "sort", "fields", "limit"):
        value = data.get(key)
        if value not in (None, ""):
            args[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {"start": next_url(args), "next": next_url({**args, "offset": str(query.offset + query.limit)})}
