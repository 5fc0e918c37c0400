"""Every problem `code` the portal can answer has a `type` page (`/developers/problems/<code>`):
the codes are found in the source, not listed by hand, so a new one without an entry in
`portal/api/problems.py` fails here.

Found: `code="..."` arguments, the `code` of each error class, `NotFound("<kind>", ...)`
(`<kind>-not-found`), the data store's `QueryError("<code>", ...)` (rows, downloads and charts
answer them as 400s), the codes of HTTP errors (`portal.errors._HTTP`), and `refused-<rule>` for
every rule the broker can refuse a public aggregate by (`Refusal("<rule>", ...)`,
`RangeProblem("<rule>", ...)` and the rules of `notes.REFUSALS`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from portal.analysis.notes import REFUSALS
from portal.api.problems import PROBLEM_TYPES
from portal.errors import _HTTP

PORTAL = Path(__file__).resolve().parents[3] / "portal"

# Codes that are never a problem document with a `type` link, and why.
NOT_PROBLEMS = {
    "error": "PortalError's placeholder; every error raised sets its own code",
    # a run's `result.code` (notes.RUN_ERRORS), raised and caught inside the queue worker
    "account-inactive": "a run's result code", "key-revoked": "a run's result code",
    # the CKAN-compatible API answers CKAN's envelope (`__type`), not problem documents
    "validation-error": "CKAN API", "search-query-error": "CKAN API", "action-not-found": "CKAN API",
    "resource-not-found": "CKAN API",
    # raised by `kaifang load` (portal/catalog/cli.py) on the operator's shell, never over HTTP
    "bad-descriptor": "kaifang load", "missing-required": "kaifang load", "missing-bounds": "kaifang load",
    "no-such-file": "kaifang load", "unknown-theme": "kaifang load", "concurrent-load": "kaifang load",
    "not-a-package": "kaifang load",
}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _called(node: ast.Call) -> str | None:
    return node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else None


def _class_codes(node: ast.ClassDef) -> set[str]:
    """`code = "x"` and `status, code, title = 400, "x", ...` in a class body."""
    found = set()
    for statement in node.body:
        if not isinstance(statement, ast.Assign):
            continue
        for target in statement.targets:
            if isinstance(target, ast.Name) and target.id == "code" and _literal(statement.value):
                found.add(_literal(statement.value))
            elif isinstance(target, ast.Tuple) and isinstance(statement.value, ast.Tuple):
                for name, value in zip(target.elts, statement.value.elts, strict=False):
                    if isinstance(name, ast.Name) and name.id == "code" and _literal(value):
                        found.add(_literal(value))
    return found


def source_codes() -> tuple[set[str], set[str]]:
    """(problem codes, refusal rules) written in portal/**/*.py."""
    codes: set[str] = set()
    rules: set[str] = set()
    for path in PORTAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                codes |= _class_codes(node)
            if not isinstance(node, ast.Call):
                continue
            called, first = _called(node), _literal(node.args[0]) if node.args else None
            codes |= {_literal(k.value) for k in node.keywords if k.arg == "code" and _literal(k.value)}
            if called == "NotFound" and first:
                codes.add(f"{first.replace(' ', '-')}-not-found")
            elif called == "QueryError" and first:
                codes.add(first)
            elif called in ("Refusal", "RangeProblem") and first:
                rules.add(first)
    return codes, rules


CODES, RULES = source_codes()
EXPECTED = sorted((CODES - set(NOT_PROBLEMS)) | {code for code, _, _ in _HTTP.values()}
                  | {f"refused-{rule}" for rule in RULES | {r for r in REFUSALS if "/" not in r}})


def test_the_scan_finds_the_codes_it_should():
    """A guard on the scan itself: codes of each kind it looks for."""
    assert {"rows-not-open", "no-fields", "public-aggregate-open", "code-too-large", "invalid-key",
            "application-not-found", "data-of-dataset-not-found", "bad-type", "refused-too-many-groups",
            "refused-out-of-range", "refused-query-cap", "too-large"} <= set(EXPECTED)
    assert len(EXPECTED) > 100
    assert not set(NOT_PROBLEMS) - CODES, "an exception listed for a code that is no longer in the source"


def test_every_rule_the_broker_refuses_by_has_a_message():
    """`refused-<rule>` pages explain the rule with its `notes.REFUSALS` sentence (so do the notebook's
    refusals): a rule raised in the source without one would have a page without its meaning."""
    assert not RULES - set(REFUSALS)


def test_every_code_in_the_source_is_documented():
    missing = [code for code in EXPECTED if code not in PROBLEM_TYPES]
    assert not missing, f"add these to PROBLEM_TYPES (portal/api/problems.py): {missing}"
    wrong = [p.code for p in PROBLEM_TYPES.values() if not (400 <= p.status < 600 and p.title and p.help)]
    assert not wrong


@pytest.mark.parametrize("code", sorted(PROBLEM_TYPES))
def test_each_problem_type_page_answers(bundled_client, code):
    page = bundled_client.get(f"/developers/problems/{code}", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200, code
    assert f"<code>{code}</code>" in page.text


def test_a_refused_rule_s_page_says_what_the_rule_means(bundled_client):
    page = bundled_client.get("/developers/problems/refused-too-many-groups", headers={"Accept-Language": "zh-CN"})
    assert "声明取值的组合过多" in page.text and "被披露控制拒绝" in page.text
    bundled_client.get("/locale/en")
    english = bundled_client.get("/developers/problems/refused-too-many-groups").text
    assert "too many combinations of declared levels" in english


def test_the_problems_address_leads_to_the_reference_s_list(bundled_client):
    for path in ("/developers/problems", "/developers/problems/"):
        found = bundled_client.get(path)
        assert found.status_code in (301, 302, 308), path
        assert found.headers["Location"].endswith("/developers/api#problems")
    listed = bundled_client.get(found.headers["Location"]).text
    assert 'id="problems"' in listed and "/developers/problems/application-not-found" in listed
