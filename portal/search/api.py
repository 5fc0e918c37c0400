"""Search endpoints of API v1, registered on the API blueprint (rate limits, JSON errors)."""

from __future__ import annotations

from flask import current_app, jsonify, request

from portal.api import bp
from portal.api.keys import require_scope
from portal.auth import current_actor
from portal.db import get_session
from portal.search import service
from portal.search.schemas import SearchParams, as_json

SUGGEST_LIMIT = 10


@bp.get("/search")
@require_scope("catalog:read")
def search():
    """Search datasets: `q`, facet filters (theme, department, open_class, format, tag,
    update_frequency), `sort` (relevance, updated, views, downloads, records, title), `page`."""
    params = SearchParams.parse(request.args, per_page=current_app.config["LIST_PAGE_SIZE"])
    page = service.search_datasets(get_session(), current_actor(), params)
    return jsonify({"query": params.q, "sort": params.effective_sort, **as_json(page)})


@bp.get("/search/suggest")
@require_scope("catalog:read")
def search_suggest():
    """Completions for a search box: titles and tags by prefix, pinyin or pinyin initials."""
    text = (request.args.get("q") or "")[:100]
    found = service.suggest(get_session(), current_actor(), text, limit=SUGGEST_LIMIT)
    return jsonify({"query": text, "suggestions": [
        {"label": s.label, "kind": s.kind, "slug": s.slug} for s in found]})
