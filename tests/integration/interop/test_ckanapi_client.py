"""The real `ckanapi` client against a live server: what CKAN users' scripts do, unchanged."""

from __future__ import annotations

import json

import pytest
from ckanapi import NotAuthorized, NotFound, RemoteCKAN, ValidationError

OPEN, CONDITIONAL = "nyc-flights-2013", "clinic-visits-synthetic"


@pytest.fixture(params=["post", "get"])
def ckan(request, live_url):
    """ckanapi posts JSON by default; `get_only` sends the same calls as query strings."""
    with RemoteCKAN(live_url, get_only=request.param == "get", user_agent="kaifang-tests") as client:
        yield client


def test_list_show_and_search(ckan):
    names = ckan.action.package_list()
    assert OPEN in names and len(names) >= 25
    package = ckan.action.package_show(id=OPEN)
    assert package["name"] == OPEN and package["organization"]["name"] == "us-bts"
    found = ckan.action.package_search(q="flights", fq="res_format:CSV", rows=5)
    assert OPEN in [p["name"] for p in found["results"]]
    assert ckan.action.package_search(fq="groups:health", rows=0)["count"] >= 1
    assert "transport" in ckan.action.group_list()
    assert ckan.action.organization_show(id="us-faa")["package_count"] == 2
    assert ckan.action.tag_list()
    assert ckan.action.status_show()["site_title"]


def test_datastore_search(ckan):
    resource = ckan.action.package_show(id=OPEN)["resources"][0]
    filters = {"origin": "JFK"}
    if ckan.get_only:  # a query string cannot carry an object: CKAN users send it as JSON text
        filters = json.dumps(filters)
    page = ckan.action.datastore_search(resource_id=resource["id"], filters=filters, limit=3,
                                        sort="dep_time desc", fields=["origin", "dep_time"])
    assert page["total"] > 3 and len(page["records"]) == 3
    assert {r["origin"] for r in page["records"]} == {"JFK"}
    assert [f["id"] for f in page["fields"]] == ["origin", "dep_time"]


def test_errors_become_ckanapi_exceptions(ckan):
    with pytest.raises(NotFound):
        ckan.action.package_show(id="no-such-dataset")
    with pytest.raises(ValidationError):
        ckan.action.datastore_search(resource_id=OPEN, filters=json.dumps({"no_such_column": 1}))
    with pytest.raises(NotAuthorized):
        ckan.action.datastore_search(resource_id=CONDITIONAL)
