"""The OpenAPI document: valid 3.1 written from the endpoint declarations, and schemathesis
(property-based, in process, a bounded number of examples per operation) finds no server error,
no undocumented status or content type and no response that breaks the schema."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.api.spec import ENDPOINTS

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25  # per operation: enough to hit every parameter with good and bad values, seconds in all


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return {result.ok().label: result.ok() for result in schema.get_all_operations()}


@pytest.mark.parametrize("name", [e.name for e in ENDPOINTS])
def test_api_conforms_to_its_document(bundled_app, name):
    operation = next(op for op in _operations(bundled_app).values() if op.definition.raw["operationId"] == name)

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def check(case):
        # the in-process transport does not decompress; compression is tested in test_rows_api
        case.call_and_validate(checks=CHECKS, headers={"Accept-Encoding": "identity"})

    check()


def test_document_is_generated_from_the_declarations(bundled_client):
    document = bundled_client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert set(operations) == {e.name for e in ENDPOINTS}
    rows = operations["dataset_rows"]
    assert {p["name"] for p in rows["parameters"]} >= {"slug", "size", "cursor", "sort", "_fields", "version",
                                                       "format", "filters"}
    assert rows["x-scope"] == "rows:read" and operations["datasets"]["x-scope"] == "catalog:read"
    assert set(rows["responses"]["200"]["content"]) == {"application/json", "application/x-ndjson",
                                                        "text/csv; charset=utf-8"}
    assert rows["responses"]["400"]["content"]["application/problem+json"]
    # a write's own statuses: a cell over SESSION_MAX_CODE_BYTES (`code-too-large`), any body over
    # MAX_CONTENT_LENGTH (`too-large`)
    assert set(operations["create_session_run"]["responses"]) == {"202", "400", "401", "403", "404", "409", "413",
                                                                 "422", "429"}
    assert "code-too-large" in operations["create_session_run"]["responses"]["413"]["description"]
    assert all("413" in operations[name]["responses"] for name in ("create_analysis_session", "create_application",
                                                                   "withdraw_application"))
    assert "413" not in operations["datasets"]["responses"]


def test_reference_page_has_examples_and_no_inline_script(bundled_client):
    page = bundled_client.get("/developers/api")
    assert page.status_code == 200 and "API 参考" in page.text
    assert "curl -s 'http://localhost/api/v1/datasets/nyc-flights-2013/rows?origin__eq=JFK&amp;month__eq=6" in page.text
    assert "import requests" in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline script (the CSP forbids it)"
    assert "无条件开放数据集的一页数据行" in page.text
    bundled_client.get("/locale/en")
    english = bundled_client.get("/developers/api")
    assert "A page of rows of an open dataset." in english.text


def test_the_developers_address_leads_to_the_reference(bundled_client):
    found = bundled_client.get("/developers")
    assert found.status_code in (301, 302, 308) and found.headers["Location"].endswith("/developers/api")
    assert bundled_client.get("/developers/").headers["Location"].endswith("/developers/api")


def test_parameter_descriptions_are_translated_at_render(bundled_client):
    """The OpenAPI document stays the one source (English); the Chinese reference page shows each
    parameter's description translated, and the English page the document's own text."""
    import html

    document = bundled_client.get("/api/v1/openapi.json").get_json()
    described = {p["description"] for path in document["paths"].values() for operation in path.values()
                 for p in operation.get("parameters", []) if p.get("description")}
    assert len(described) > 20
    from portal.filters import code_spans

    shown = {d: html.unescape(str(code_spans(d))) for d in described}  # `x` is rendered as <code>x</code>
    chinese = html.unescape(bundled_client.get("/developers/api").text)
    left = sorted(d for d in described if shown[d] in chinese)
    assert not left, f"English parameter descriptions on the Chinese page: {left}"
    assert "每页行数（默认 100" in chinese and "页码，从 1 开始。" in chinese
    bundled_client.get("/locale/en")
    english = html.unescape(bundled_client.get("/developers/api").text)
    assert all(shown[d] in english for d in described)
    assert "<code>transport</code>" in english
