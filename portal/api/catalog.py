"""Catalog and rows endpoints of API v1."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, jsonify, request, url_for

from portal.api import bp
from portal.api.keys import require_scope
from portal.auth import current_actor
from portal.catalog import rows, service
from portal.catalog.schemas import ListParams, PreviewParams
from portal.db import get_session
from portal.serialise import plain


@bp.after_request
def _count_call(response):
    if response.status_code < 500:
        service.record_api_call(get_session())
    return response


@bp.get("/datasets")
@require_scope("catalog:read")
def datasets():
    """List datasets with facet filters and paging."""
    params = ListParams.parse(request.args, per_page=current_app.config["LIST_PAGE_SIZE"])
    page = service.list_datasets(get_session(), current_actor(), params)
    return jsonify(plain(page))


@bp.get("/datasets/<slug>")
@require_scope("catalog:read")
def dataset(slug: str):
    """One dataset's metadata, data dictionary and versions."""
    return jsonify(plain(service.get_dataset(get_session(), current_actor(), slug)))


@bp.get("/datasets/<slug>/rows")
@require_scope("rows:read")
def dataset_rows(slug: str):
    """A page of rows of an open dataset: `page`, `size`, `sort=col,-col`, filters `col__op=value`."""
    session, actor = get_session(), current_actor()
    detail = service.get_dataset(session, actor, slug)
    columns = detail.current.columns if detail.current else ()
    params = PreviewParams.parse(request.args, columns, default_size=current_app.config["PREVIEW_PAGE_SIZE"],
                                 max_size=current_app.config["PREVIEW_MAX_PAGE_SIZE"])
    page = rows.preview_rows(session, actor, slug, params, data_dir=Path(current_app.config["DATA_DIR"]))
    names = [c.name for c in page.columns]
    body = {
        "dataset": slug, "version": detail.current.number if detail.current else None,
        "columns": plain(page.columns), "total": page.total, "page": page.page, "pages": page.pages,
        "rows": [dict(zip(names, plain(list(r)), strict=True)) for r in page.rows],
    }
    if page.page < page.pages:
        body["next"] = url_for("api.dataset_rows", slug=slug, _external=True,
                               **{**request.args, "page": page.page + 1})
    return jsonify(body)
