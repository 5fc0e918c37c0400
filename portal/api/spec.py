"""The declaration of every API v1 endpoint, and the request checks made from it.

`@endpoint(rule, query=Model, response=T, scope="rows:read")` registers a route on the API
blueprint and an `Endpoint` record. The wrapper checks the scope, then turns the query string
into the model (unknown parameters and wrong types are 400 problems naming the parameter) and
passes it to the view; `openapi.build` writes the OpenAPI document from the same records, so
the document and the validation cannot disagree.

Scopes: each endpoint names the key scope it needs (`catalog:read`, `rows:read`). Until API keys
land, `check_scope` lets the anonymous/session actor through; the accounts package registers
its checker as `app.extensions["kaifang.require_scope"]` and it is called here for every call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict

from portal.accounts import keyauth as keys
from portal.api import bp
from portal.errors import BadRequest

SCOPES = ("catalog:read", "rows:read", "sandbox:run")
ANY_SCOPE = "any"  # a route about the calling key itself (`/me`): any valid key, whatever its scopes


@dataclass(frozen=True)
class Endpoint:
    rule: str
    name: str
    summary: str
    description: str
    tag: str
    scope: str
    query: type[BaseModel] | None
    response: Any
    filters: bool = False
    media: tuple[str, ...] = ("application/json",)
    method: str = "get"
    body: type[BaseModel] | None = None  # the JSON request body of a POST
    status: int = 200
    auth: str = "optional"  # "key": anonymous callers get 401 (the route acts for a person)
    errors: tuple[tuple[str, str], ...] = ()  # statuses of its own beyond the common ones: (status, description)


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, *, tag: str, scope: str, response: Any, query: type[BaseModel] | None = None,
             filters: bool = False, media: tuple[str, ...] = ("application/json",), method: str = "get",
             body: type[BaseModel] | None = None, status: int = 200, auth: str = "optional",
             errors: dict[str, str] | None = None) -> Callable:
    """Register a route of API v1 (GET unless `method` says otherwise); the view receives the
    parsed query as `params` when `query` is given, and the parsed JSON body as `body` when
    `body` is; with `auth="key"` a call without a key is a 401; `errors` adds the statuses only
    this route answers (status -> description) to its OpenAPI responses. Its docstring's first
    line is the OpenAPI summary, the rest the description."""
    assert (scope in SCOPES or (scope == ANY_SCOPE and auth == "key")) and auth in ("optional", "key"), (scope, auth)

    def decorate(view: Callable) -> Callable:
        doc = inspect.getdoc(view) or ""
        summary, _, description = doc.partition("\n")
        record = Endpoint(rule, view.__name__, summary.strip(), description.strip(), tag, scope, query,
                          response, filters, media, method, body, status, auth, tuple((errors or {}).items()))
        ENDPOINTS.append(record)

        @functools.wraps(view)
        def wrapper(**kwargs):
            if auth == "key":
                keys.require_key_now(None if scope == ANY_SCOPE else scope)
            if scope != ANY_SCOPE:
                check_scope(scope)
            if query is not None:
                kwargs["params"], filters = parse_query(record, request.args)
                if record.filters:
                    kwargs["filters"] = filters
            if body is not None:
                kwargs["body"] = parse_body(body)
            return view(**kwargs)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method.upper()])
        return wrapper

    return decorate


def check_scope(scope: str) -> None:
    """The caller's key must hold `scope` (anonymous callers pass; see `api.keys`)."""
    keys.check_scope(scope)


def parse_query(record: Endpoint, args: MultiDict) -> tuple[BaseModel, tuple[tuple[str, str], ...]]:
    """The query string as the endpoint's model, and the `column__op=value` filter pairs (for
    endpoints that take filters; they are checked against the columns by the service).

    Raises:
        BadRequest: `unknown-parameter`, `bad-parameter` (with the messages per parameter).
    """
    model = record.query
    known = {field.alias or name for name, field in model.model_fields.items()}
    values: dict[str, str] = {}
    filters: list[tuple[str, str]] = []
    unknown: list[str] = []
    for key, value in args.items(multi=True):
        if key in known:
            values.setdefault(key, value)
        elif record.filters and "__" in key:
            filters.append((key, value))
        else:
            unknown.append(key)
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:60]!r}", code="unknown-parameter",
                         errors={name[:60]: ["not a parameter of this endpoint"] for name in unknown[:10]})
    try:
        params = model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(_first_message(exc), code="bad-parameter", errors=_messages(exc)) from None
    return params, tuple(filters)


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as `model`.

    Raises:
        BadRequest: `bad-body` (not JSON, or not of the model's shape, with messages per field).
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("send a JSON object (Content-Type: application/json)", code="bad-body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(_first_message(exc).replace("parameter", "field", 1), code="bad-body",
                         errors=_messages(exc)) from None


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]) or "query"
        errors.setdefault(name, []).append(error["msg"])
    return errors


def _first_message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    name = ".".join(str(part) for part in error["loc"])
    return f"parameter {name!r}: {error['msg']}"
