"""Catalog endpoints of API v1: datasets, their versions and fields, themes and departments.

Each route parses (spec.endpoint does), calls one service function and serialises its
dataclasses; visibility and errors are the services' business.
"""

from __future__ import annotations

from flask import current_app

from portal.api.http import json_response
from portal.api.schemas import DatasetListQuery, NoQuery
from portal.api.spec import endpoint
from portal.auth import current_actor
from portal.catalog import service
from portal.catalog.schemas import (
    DatasetDetail,
    DatasetPage,
    FieldInfo,
    ListParams,
    Named,
    VersionInfo,
)
from portal.db import get_session
from portal.search import service as search_service
from portal.search.schemas import SearchParams

CATALOG = "catalog:read"


@endpoint("/datasets", tag="datasets", scope=CATALOG, query=DatasetListQuery, response=DatasetPage)
def datasets(params: DatasetListQuery):
    """List datasets, with facet filters, facet counts and paging.

    Only what the caller may see is listed; `conditional` and `closed` datasets are listed too
    (their metadata is public), their rows are not served. With `q`, the site's search engine
    decides which datasets match and ranks them (`sort=relevance` by default), as on `/search`.
    """
    per_page = params.size or current_app.config["LIST_PAGE_SIZE"]
    if params.q and params.q.strip():
        given = {k: str(v) for k, v in params.model_dump(exclude_none=True, exclude={"size"}).items()}
        page = search_service.search_listing(get_session(), current_actor(),
                                             SearchParams.parse(given, per_page=per_page))
        return json_response(page, DatasetPage)
    sort = "updated" if params.sort in (None, "relevance") else params.sort
    listing = ListParams(**params.model_dump(exclude={"page", "sort", "q", "size"}), sort=sort, page=params.page,
                         per_page=per_page)
    return json_response(service.list_datasets(get_session(), current_actor(), listing), DatasetPage)


@endpoint("/datasets/<slug>", tag="datasets", scope=CATALOG, query=NoQuery, response=DatasetDetail)
def dataset(slug: str, params: NoQuery):
    """One dataset: metadata, data dictionary, versions (newest first)."""
    return json_response(service.get_dataset(get_session(), current_actor(), slug), DatasetDetail)


@endpoint("/datasets/<slug>/versions", tag="datasets", scope=CATALOG, query=NoQuery, response=tuple[VersionInfo, ...])
def dataset_versions(slug: str, params: NoQuery):
    """The versions of a dataset, newest first; each is immutable and readable with `?version=N`."""
    detail = service.get_dataset(get_session(), current_actor(), slug)
    return json_response(detail.versions, tuple[VersionInfo, ...])


@endpoint("/datasets/<slug>/versions/<int:number>", tag="datasets", scope=CATALOG, query=NoQuery, response=VersionInfo)
def dataset_version(slug: str, number: int, params: NoQuery):
    """One version of a dataset: its source, checksum, row count and columns."""
    return json_response(service.get_version(get_session(), current_actor(), slug, number), VersionInfo)


@endpoint("/datasets/<slug>/fields", tag="datasets", scope=CATALOG, query=NoQuery, response=tuple[FieldInfo, ...])
def dataset_fields(slug: str, params: NoQuery):
    """The data dictionary of a dataset: each field's type, descriptions, unit and flags."""
    return json_response(service.get_dataset(get_session(), current_actor(), slug).fields, tuple[FieldInfo, ...])


@endpoint("/themes", tag="catalog", scope=CATALOG, query=NoQuery, response=tuple[Named, ...])
def themes(params: NoQuery):
    """The 21 themes in their fixed order, each with its number of visible datasets."""
    return json_response(service.list_themes(get_session(), current_actor()), tuple[Named, ...])


@endpoint("/themes/<code>", tag="catalog", scope=CATALOG, query=NoQuery, response=Named)
def theme(code: str, params: NoQuery):
    """One theme (list its datasets with `/datasets?theme=CODE`)."""
    return json_response(service.get_theme(get_session(), current_actor(), code), Named)


@endpoint("/departments", tag="catalog", scope=CATALOG, query=NoQuery, response=tuple[Named, ...])
def departments(params: NoQuery):
    """The publishing departments, each with its number of visible datasets."""
    return json_response(service.list_departments(get_session(), current_actor()), tuple[Named, ...])


@endpoint("/departments/<slug>", tag="catalog", scope=CATALOG, query=NoQuery, response=Named)
def department(slug: str, params: NoQuery):
    """One department (list its datasets with `/datasets?department=SLUG`)."""
    return json_response(service.get_department(get_session(), current_actor(), slug), Named)
