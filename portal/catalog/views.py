"""HTML pages of the catalog: the theme index, dataset page, charts, maps, downloads. (The dataset
list and the theme and department pages are search results: `portal/search/views.py`.)

Each route parses input, calls one service function and renders; no SQL and no permission
decisions here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale

from portal.auth import current_actor
from portal.catalog import chartlabels, charts, maps, previewforms, rows, samples, service, visits
from portal.catalog.schemas import PreviewParams
from portal.db import get_session

bp = Blueprint("catalog", __name__)
# A download URL names the current version, which a new upload replaces: caches revalidate every
# time (the ETag makes that a 304 while the version stands).
DOWNLOAD_MAX_AGE = 0


def _data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


@bp.get("/themes")
def theme_index():
    themes = service.list_themes(get_session(), current_actor())
    return render_template("catalog/themes.html", themes=themes)


@bp.get("/datasets/<slug>")
def dataset_page(slug: str):
    session, actor = get_session(), current_actor()
    detail = service.get_dataset(session, actor, slug)
    preview = None
    if detail.rows_visible and detail.current:
        columns = detail.current.columns
        canonical = previewforms.canonical_args(request.args, columns)
        if canonical != request.args.to_dict():  # a submitted form, empty boxes or `>60` shorthand
            return redirect(url_for("catalog.dataset_page", slug=slug, **canonical, _anchor="preview"), 303)
        params = PreviewParams.parse_lenient(request.args, columns,
                                             default_size=current_app.config["PREVIEW_PAGE_SIZE"],
                                             max_size=current_app.config["PREVIEW_MAX_PAGE_SIZE"])
        preview = rows.preview_rows(session, actor, slug, params, data_dir=_data_dir())
    service.record_view(session, actor, slug, visitor=visits.visitor_key())
    return render_template("catalog/dataset.html", d=detail, preview=preview,
                           formats=rows.download_formats(detail.coordinates))


@bp.get("/datasets/<slug>/chart.json")
def chart_data(slug: str):
    """A chart's values, title, axis titles and note in the page's language (problem+json on error)."""
    return jsonify(chartlabels.payload(_chart(slug)))


@bp.get("/datasets/<slug>/chart.csv")
def chart_csv(slug: str):
    """The plotted values of the same chart as CSV (UTF-8 with BOM, so Excel reads Chinese)."""
    chart = _chart(slug)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv.writer(buffer, lineterminator="\n").writerows(chartlabels.csv_rows(chart))
    response = Response(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"{slug}-chart-{chart.params.x}.csv".replace('"', "")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/datasets/<slug>/points.json")
def map_points(slug: str):
    """Map points of a dataset with coordinates: rows while few, else grid counts (problem+json on error)."""
    found = maps.map_points(get_session(), current_actor(), slug, bbox=request.args.get("bbox") or None,
                            data_dir=_data_dir(), limit=current_app.config["MAP_POINT_LIMIT"])
    return jsonify(chartlabels.map_payload(found))


def _chart(slug: str):
    config = current_app.config
    return charts.chart_series(get_session(), current_actor(), slug, charts.ChartParams.parse(request.args),
                               data_dir=_data_dir(), max_categories=config["CHART_MAX_CATEGORIES"],
                               max_points=config["CHART_MAX_POINTS"], language=get_locale().language)


@bp.get("/datasets/<slug>/sample.zip")
def sample(slug: str):
    found = samples.open_sample(get_session(), current_actor(), slug, data_dir=_data_dir())
    response = Response(stream_with_context(found.chunks), mimetype=found.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.cache_control.no_transform = True  # sent as stored: no compression, so length and ranges hold
    return response


@bp.get("/datasets/<slug>/download/<fmt>")
def download(slug: str, fmt: str):
    """A whole version as a file: `Content-Length`, byte ranges (resumable) and an ETag, since
    the file of an immutable version never changes (decision 0022a)."""
    bom = request.args.get("bom") in ("1", "true")
    found = rows.open_download(get_session(), current_actor(), slug, fmt, bom=bom, data_dir=_data_dir())
    if found.path is None:  # its cache file is being written: streamed meanwhile, without a length
        response = Response(stream_with_context(found.chunks), mimetype=found.mimetype)
        response.cache_control.no_store = True  # no ETag to revalidate against: ask again next time
    else:
        response = send_file(found.path, mimetype=found.mimetype, conditional=True, etag=found.etag,
                             max_age=DOWNLOAD_MAX_AGE)
    # one charset: werkzeug appends "; charset=utf-8" to a text/* type that has one already
    response.headers["Content-Type"] = found.mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    response.cache_control.no_transform = True  # sent as stored: no compression, so length and ranges hold
    return response
