"""The search page. The dataset list, theme and department pages render the same results
partial through the same service (`catalog.views`), so there is one ranking everywhere."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, render_template, request

from portal.auth import current_actor
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
