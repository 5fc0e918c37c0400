"""Developer pages: the API reference (`/developers/api`), written from the same endpoint
records as the OpenAPI document, and one page per problem type (`/developers/problems/<code>`).

They live outside /api/ so that they render as HTML, are not rate-limited, and carry no script.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from portal.analysis.notes import REFUSALS
from portal.api.openapi import build, path_of
from portal.api.problems import PROBLEM_TYPES
from portal.api.spec import ENDPOINTS
from portal.errors import NotFound

bp = Blueprint("developers", __name__, url_prefix="/developers")

FLIGHTS = "nyc-flights-2013"
EXAMPLES = {
    "me": "/api/v1/me",
    "datasets": "/api/v1/datasets?theme=transport",
    "dataset": f"/api/v1/datasets/{FLIGHTS}",
    "dataset_versions": f"/api/v1/datasets/{FLIGHTS}/versions",
    "dataset_version": f"/api/v1/datasets/{FLIGHTS}/versions/1",
    "dataset_fields": f"/api/v1/datasets/{FLIGHTS}/fields",
    "public_aggregate_api": "/api/v1/datasets/clinic-visits-synthetic/public-aggregate?by=district,sex",
    "dataset_rows": f"/api/v1/datasets/{FLIGHTS}/rows?origin__eq=JFK&month__eq=6&sort=-dep_delay&size=5",
    "themes": "/api/v1/themes",
    "theme": "/api/v1/themes/transport",
    "departments": "/api/v1/departments",
    "search": "/api/v1/search?q=hangban&theme=transport",
    "search_suggest": "/api/v1/search/suggest?q=tq",
    "department": "/api/v1/departments/us-bts",
    "applications": "/api/v1/applications",
    "create_application": "/api/v1/applications",
    "application": "/api/v1/applications/1",
    "withdraw_application": "/api/v1/applications/1/withdraw",
    "analysis_sessions": "/api/v1/sessions",
    "create_analysis_session": "/api/v1/sessions",
    "analysis_session": "/api/v1/sessions/SESSION_ID",
    "close_analysis_session": "/api/v1/sessions/SESSION_ID",
    "create_session_run": "/api/v1/sessions/SESSION_ID/runs",
    "session_run": "/api/v1/runs/RUN_ID?wait=30",
    "delete_session_run": "/api/v1/runs/RUN_ID",
}
# JSON bodies of the example calls of POST endpoints.
BODIES = {
    "create_application": '{"datasets": ["clinic-visits-synthetic"], "purpose": "门诊费用的区域差异研究", '
                          '"organisation": "Nankai University", "duration_days": 90, "applicant_name": "张三", '
                          '"document_type": "resident", "id_number": "11010519491231002X"}',
    "withdraw_application": '{"reason": "no longer needed"}',
    "create_analysis_session": '{"datasets": ["nyc-flights-2013"]}',
    "create_session_run": '{"code": "t = dataset(\\"nyc-flights-2013\\")\\nprint(t.count())"}',
}


@bp.get("/", strict_slashes=False)
def index():
    """`/developers` is where people and links look first: the reference is the developers' page."""
    return redirect(url_for("developers.api_reference"))


@bp.get("/api")
def api_reference():
    base = request.host_url.rstrip("/")
    document = build(base)
    endpoints = [(record, document["paths"][path_of(record.rule)][record.method], base + EXAMPLES[record.name])
                 for record in ENDPOINTS]
    return render_template("api/reference.html", endpoints=endpoints, base=base, bodies=BODIES,
                           operation_path=lambda record: path_of(record.rule),
                           problems=sorted(PROBLEM_TYPES.values(), key=lambda p: (p.status, p.code)))


@bp.get("/problems", strict_slashes=False)
def problems():
    """The problem types are listed on the reference page: `/developers/problems` leads there."""
    return redirect(url_for("developers.api_reference", _anchor="problems"))


@bp.get("/problems/<code>")
def problem_page(code: str):
    problem = PROBLEM_TYPES.get(code)
    if problem is None:
        raise NotFound("problem type", code)
    return render_template("api/problem.html", problem=problem, refusals=REFUSALS)

