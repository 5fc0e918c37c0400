"""The search page, and the dataset list, theme and department pages: the same results partial
through the same service, so there is one ranking everywhere.

The three listing pages keep the catalog's blueprint (their addresses and endpoint names,
`catalog.dataset_list`…), but live here: the catalog sits below search and never imports it.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, render_template, request

from portal.auth import current_actor
from portal.catalog import service as catalog_service
from portal.catalog.views import bp as catalog_bp
from portal.db import get_session
from portal.errors import NotFound
from portal.filters import is_zh
from portal.search import service
from portal.search.schemas import SearchParams

bp = Blueprint("search", __name__)


@bp.get("/search")
def search_page():
    params = replace(SearchParams.parse(request.args, per_page=current_app.config["LIST_PAGE_SIZE"]),
                     tag_lang="zh" if is_zh() else "en")
    page = service.search_datasets(get_session(), current_actor(), params)
    if params.page > page.pages:
        raise NotFound("page", str(params.page))
    return render_template("search/page.html", page=page, params=params)


@catalog_bp.get("/datasets")
def dataset_list():
    return _listing("catalog/list.html", {})


@catalog_bp.get("/themes/<code>")
def theme_page(code: str):
    theme = catalog_service.get_theme(get_session(), current_actor(), code)
    return _listing("catalog/theme.html", {"theme": code}, theme=theme)


@catalog_bp.get("/departments/<slug>")
def department_page(slug: str):
    department = catalog_service.get_department(get_session(), current_actor(), slug)
    return _listing("catalog/department.html", {"department": slug}, department=department)


def _listing(template: str, fixed: dict[str, str], **context):
    """The list, a theme's or a department's datasets, through the search engine (one ranking
    everywhere), with the facet fixed by the URL."""
    params = replace(SearchParams.parse({**request.args.to_dict(), **fixed}, per_page=current_app.config["LIST_PAGE_SIZE"]),
                     tag_lang="zh" if is_zh() else "en")
    page = service.search_datasets(get_session(), current_actor(), params)
    if params.page > page.pages:
        raise NotFound("page", str(params.page))
    return render_template(template, page=page, params=params, **context)
