"""The OpenAPI 3.1 document of API v1, written from the endpoint records of `spec.py`.

Parameters come from each endpoint's pydantic query model (the one that validates requests),
bodies from the service dataclasses through pydantic's `TypeAdapter` (the one that serialises
responses), errors from the `Problem` model. Nothing here is kept by hand except the prose.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from flask import jsonify, request
from pydantic import TypeAdapter

from portal.api import bp
from portal.api.schemas import FILTER_PATTERN, Problem
from portal.api.spec import ANY_SCOPE, ENDPOINTS, Endpoint
from portal.errors import N_

REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"
ERRORS = {
    "400": "Bad parameter: unknown parameter, column or operator, wrong type, malformed cursor, size too large.",
    "403": "Not allowed: rows of a conditional or closed dataset (`rows-not-open`), or a missing key scope.",
    "404": "No such dataset, version, theme or department (or not visible to the caller).",
    "429": "Rate limit exceeded; `Retry-After` says when to try again.",
}
KEY_ERRORS = {"401": "No API key, or a key that is unknown, revoked or expired: this call acts for a person."}
BODY_ERRORS = {"413": "The request body is larger than MAX_CONTENT_LENGTH (`too-large`)."}
WRITE_ERRORS = {"409": "The resource is not in a state that allows this change.",
                "422": "The request is well-formed but its values are not acceptable (the problem's `errors` name the fields)."}
DESCRIPTION = (
    "Open data of the city: the catalog (datasets, versions, fields, themes, departments) and the rows "
    "of open datasets. Anonymous calls are allowed under a per-address rate limit; API keys go in "
    "`Authorization: Bearer …` or `X-API-Key`. Every error is an RFC 9457 problem (`application/problem+json`) "
    "whose `type` documents it. Responses carry strong ETags (answer `If-None-Match` with 304), are "
    "compressed when asked (`Accept-Encoding: gzip`) and readable from any origin (CORS, no credentials)."
)
_PATH_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build(request.host_url.rstrip("/")))


@functools.cache
def build(server: str) -> dict[str, Any]:
    schemas, refs = _component_schemas()
    paths: dict[str, Any] = {}
    for record in ENDPOINTS:
        path, path_params = _path(record.rule)
        paths.setdefault(path, {})[record.method] = _operation(record, path_params, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kaifang open data API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _component_schemas() -> tuple[dict[str, Any], dict[Any, dict]]:
    shapes = list(dict.fromkeys([r.response for r in ENDPOINTS] + [Problem]))
    inputs = [(shape, "serialization", TypeAdapter(shape)) for shape in shapes]
    refs, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return definitions.get("$defs", {}), {shape: refs[(shape, "serialization")] for shape in shapes}


def path_of(rule: str) -> str:
    """The OpenAPI path of a Flask rule of the API blueprint."""
    return "/api/v1" + _PATH_PARAM.sub(r"{\2}", rule)


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in _PATH_PARAM.findall(rule):
        schema = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return path_of(rule), params


def _operation(record: Endpoint, path_params: list[dict], refs: dict) -> dict[str, Any]:
    parameters = path_params + _query_params(record)
    if record.filters:
        parameters.append({
            "name": "filters", "in": "query", "style": "form", "explode": True, "required": False,
            "description": N_("Filters `column__op=value`, any number of them."),
            "schema": {"type": "object", "propertyNames": {"pattern": FILTER_PATTERN},
                       "additionalProperties": {"type": "string", "maxLength": 200}},
        })
    content = {media: {"schema": copy.deepcopy(refs[record.response]) if media == "application/json"
                       else {"type": "string"}} for media in record.media}
    problem = {PROBLEM_JSON: {"schema": copy.deepcopy(refs[Problem])}}
    responses: dict[str, Any] = {"200": {"description": "OK", "headers": _headers(record), "content": content},
                                 "304": {"description": "Not modified (If-None-Match matched the ETag)."}}
    if record.method != "get":  # a write: its own status, no validators, and the errors of a write
        responses = {str(record.status): {"description": "OK", "content": content}}
    errors = {**ERRORS, **(WRITE_ERRORS if record.method != "get" else {}), **(KEY_ERRORS if record.auth == "key" else {}),
              **(BODY_ERRORS if record.body is not None else {}), **dict(record.errors)}
    responses.update({status: {"description": text, "content": problem} for status, text in sorted(errors.items())})
    scopes = [] if record.scope == ANY_SCOPE else [record.scope]
    operation = {
        "operationId": record.name, "summary": record.summary, "description": record.description,
        "tags": [record.tag], "parameters": parameters, "responses": responses,
        "security": ([] if record.auth == "key" else [{}]) + [{"ApiKey": scopes}, {"Bearer": scopes}],
        "x-scope": record.scope,
    }
    if record.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": record.body.model_json_schema(ref_template=REF)}}}
    return operation


def _query_params(record: Endpoint) -> list[dict[str, Any]]:
    if record.query is None:
        return []
    schema = record.query.model_json_schema(by_alias=True, ref_template=REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _not_null(dict(prop))
        description = prop.pop("description", "")
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": name in required,
                       "description": description, "schema": prop})
    return params


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never null: drop pydantic's `null` branch."""
    branches = prop.pop("anyOf", None)
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    if prop.get("default") is None:
        prop.pop("default", None)
    return prop


def _headers(record: Endpoint) -> dict[str, Any]:
    headers = {"ETag": {"description": "Strong validator of this representation.", "schema": {"type": "string"}}}
    if record.filters:
        headers["Link"] = {"description": 'The next page: `<URL>; rel="next"` (absent on the last page).',
                           "schema": {"type": "string"}}
    return headers
