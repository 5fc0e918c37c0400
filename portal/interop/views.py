"""Routes of the harvestable catalog: `/catalog.jsonld` (DCAT-AP 3), `/data.json` (Project Open
Data 1.1) and `/datasets/<slug>/datapackage.json` (Frictionless).

These are public documents: they are built for the anonymous visitor whoever asks, so a
signed-in publisher's drafts can never end up in a harvester's copy.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, json, request, url_for

from portal.auth import ANONYMOUS
from portal.catalog import records
from portal.db import get_session
from portal.interop import datapackage, dcat, pod
from portal.interop.links import Catalog, Links

bp = Blueprint("interop", __name__)

CACHE = "public, max-age=300"


def _links() -> Links:
    return Links(lambda endpoint, **values: url_for(endpoint, _external=True, **values))


def _catalog() -> Catalog:
    config = current_app.config
    return Catalog(config["CATALOG_TITLE"], config["CATALOG_PUBLISHER"], config["CATALOG_CONTACT_EMAIL"])


def _json(body: dict, mimetype: str) -> Response:
    """The document with an ETag, so harvesters polling with If-None-Match get a 304."""
    response = Response(json.dumps(body, ensure_ascii=False, indent=1), mimetype=mimetype)
    response.headers["Cache-Control"] = CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/catalog.jsonld")
def dcat_catalog():
    """The catalog as DCAT-AP 3 JSON-LD."""
    body = dcat.catalog(records.list_records(get_session(), ANONYMOUS), _links(), _catalog())
    return _json(body, "application/ld+json")


@bp.get("/data.json")
def data_json():
    """The catalog as Project Open Data 1.1."""
    body = pod.catalog(records.list_records(get_session(), ANONYMOUS), _links(), _catalog())
    return _json(body, "application/json")


@bp.get("/datasets/<slug>/datapackage.json")
def datapackage_json(slug: str):
    """One dataset as a Frictionless Data Package."""
    body = datapackage.package(records.get_record(get_session(), ANONYMOUS, slug), _links())
    return _json(body, "application/json")
