"""The CKAN-compatible Action API through the test client: envelope, parameters, errors, visibility."""

from __future__ import annotations

import json

import pytest

OPEN, CONDITIONAL, SMALL = "nyc-flights-2013", "clinic-visits-synthetic", "china-smoking-lung-cancer"


def call(client, name, method="GET", **params):
    if method == "GET":
        return client.get(f"/api/3/action/{name}", query_string=params)
    return client.post(f"/api/3/action/{name}", json=params)


def result(client, name, **params):
    response = call(client, name, **params)
    assert response.status_code == 200, response.text
    body = response.json
    assert body["success"] is True and body["help"].endswith(f"help_show?name={name}")
    return body["result"]


def test_package_list_is_the_visible_catalog(bundled_client):
    names = result(bundled_client, "package_list")
    assert OPEN in names and CONDITIONAL in names and names == sorted(names)
    assert result(bundled_client, "package_list", limit=2, offset=1) == names[1:3]


def test_unversioned_path_and_version_root(bundled_client):
    assert bundled_client.get("/api/action/package_list").json["result"] == result(bundled_client, "package_list")
    assert bundled_client.get("/api/3").json == {"version": 3}


def test_package_show_by_name_and_by_id(bundled_client):
    package = result(bundled_client, "package_show", id=OPEN)
    assert package["name"] == OPEN and package["title"] and package["notes"]
    assert package["organization"]["name"] == "us-bts"
    assert package["groups"][0]["name"] == "transport"
    assert {t["name"] for t in package["tags"]} and package["license_id"] == "CC0-1.0"
    assert package["metadata_created"] and package["metadata_modified"]
    formats = [r["format"] for r in package["resources"]]
    assert formats[0] == "CSV" and "Parquet" in formats
    assert all(r["datastore_active"] and r["url"].startswith("http") for r in package["resources"])
    assert result(bundled_client, "package_show", id=package["id"])["name"] == OPEN


def test_conditional_package_has_no_data_url(bundled_client):
    package = result(bundled_client, "package_show", id=CONDITIONAL)
    assert [r["format"] for r in package["resources"]] == ["ZIP"]
    assert not package["resources"][0]["datastore_active"]
    assert {"key": "open_class", "value": "conditional"} in package["extras"]


def test_post_json_body_is_accepted(bundled_client):
    response = call(bundled_client, "package_show", method="POST", id=OPEN)
    assert response.status_code == 200 and response.json["result"]["name"] == OPEN


@pytest.mark.parametrize("fq, expected", [
    ("organization:us-faa", {"faa-wildlife-strikes", "us-airports-faa"}),
    ("groups:transport", None),
    ("res_format:ZIP", {CONDITIONAL, "household-income-survey-synthetic"}),
    ('license_id:"CC0-1.0" AND organization:health-commission', {CONDITIONAL}),
])
def test_package_search_fq(bundled_client, fq, expected):
    found = result(bundled_client, "package_search", fq=fq, rows=100)
    names = {p["name"] for p in found["results"]}
    assert found["count"] == len(names) > 0
    if expected is not None:
        assert names == expected
    else:
        assert all(p["groups"][0]["name"] == "transport" for p in found["results"])


def test_package_search_tags_facets_paging_and_sort(bundled_client):
    everything = result(bundled_client, "package_search", rows=1000, sort="name asc",
                        **{"facet.field": json.dumps(["organization", "tags", "res_format"]), "facet.limit": 3})
    names = [p["name"] for p in everything["results"]]
    assert names == sorted(names) and everything["count"] == len(names)
    assert len(everything["search_facets"]["organization"]["items"]) == 3
    top_tag = everything["search_facets"]["tags"]["items"][0]
    tagged = result(bundled_client, "package_search", fq=f'tags:"{top_tag["name"]}"', rows=1000)
    assert tagged["count"] == top_tag["count"]
    assert everything["facets"]["res_format"]["CSV"] >= 20
    page = result(bundled_client, "package_search", rows=5, start=5, sort="name asc")
    assert [p["name"] for p in page["results"]] == names[5:10]


def test_package_search_q(bundled_client):
    found = result(bundled_client, "package_search", q="flights")
    assert OPEN in {p["name"] for p in found["results"]}
    assert result(bundled_client, "package_search", q="organization:us-faa")["count"] == 2
    assert result(bundled_client, "package_search", q="*:*")["count"] == len(result(bundled_client, "package_list"))
    assert result(bundled_client, "package_search", q="http://example.org")["count"] == 0


def test_groups_organizations_tags_status(bundled_client):
    groups = result(bundled_client, "group_list")
    assert len(groups) == 21 and "transport" in groups
    detailed = result(bundled_client, "group_list", all_fields="true")
    assert {"name", "title", "package_count", "id"} <= set(detailed[0])
    theme = result(bundled_client, "group_show", id="transport", include_datasets=True)
    assert theme["package_count"] == len(theme["packages"]) >= 1
    organizations = result(bundled_client, "organization_list")
    assert "us-faa" in organizations
    org = result(bundled_client, "organization_show", id="us-faa", include_datasets="true")
    assert org["is_organization"] and {p["name"] for p in org["packages"]} == {"faa-wildlife-strikes", "us-airports-faa"}
    by_id = result(bundled_client, "organization_show", id=org["id"])
    assert by_id["name"] == "us-faa" and "packages" not in by_id
    tags = result(bundled_client, "tag_list")
    assert tags and tags == sorted(tags)
    status = result(bundled_client, "status_show")
    assert status["ckan_version"].startswith("2.") and "datastore" in status["extensions"]
    help_text = bundled_client.get("/api/3/action/help_show?name=package_show").json["result"]
    assert help_text.startswith("One dataset by name or id")


def test_datastore_search_records_fields_total_links(bundled_client):
    resource = result(bundled_client, "package_show", id=OPEN)["resources"][0]
    page = result(bundled_client, "datastore_search", resource_id=resource["id"], limit=5,
                  filters=json.dumps({"origin": "JFK", "month": 6}), sort="dep_delay desc",
                  fields="origin,month,dep_delay")
    assert [f["id"] for f in page["fields"]] == ["origin", "month", "dep_delay"]
    assert {f["type"] for f in page["fields"]} <= {"text", "int8", "float8"}
    assert len(page["records"]) == 5 and all(r["origin"] == "JFK" and r["month"] == 6 for r in page["records"])
    delays = [r["dep_delay"] for r in page["records"]]
    assert delays == sorted(delays, reverse=True)
    assert page["total"] > 5 and page["_links"]["next"].startswith("/api/3/action/datastore_search?")
    following = bundled_client.get(page["_links"]["next"]).json["result"]
    assert following["offset"] == 5 and following["records"][0]["dep_delay"] <= delays[-1]


def test_datastore_search_by_alias_post_q_and_operators(bundled_client):
    everything = result(bundled_client, "datastore_search", resource_id=SMALL)
    assert everything["total"] == len(everything["records"]) > 0
    text_column = next(f["id"] for f in everything["fields"] if f["type"] == "text")
    needle = str(everything["records"][0][text_column])
    response = call(bundled_client, "datastore_search", method="POST", resource_id=SMALL, q=needle[:4].upper())
    found = response.json["result"]
    assert 0 < found["total"] <= everything["total"]
    numeric = next(f["id"] for f in everything["fields"] if f["type"] in ("int8", "float8"))
    values = sorted(r[numeric] for r in everything["records"] if r[numeric] is not None)
    middle = values[len(values) // 2]
    ranged = call(bundled_client, "datastore_search", method="POST", resource_id=SMALL,
                  filters={numeric: {"gte": middle}}).json["result"]
    assert ranged["total"] == sum(1 for v in values if v >= middle)
    lists = result(bundled_client, "datastore_search", resource_id=SMALL, records_format="lists", limit=1)
    assert isinstance(lists["records"][0], list)


def test_datastore_limit_is_clamped(bundled_client):
    page = result(bundled_client, "datastore_search", resource_id=OPEN, limit=10_000_000, fields="year")
    assert page["limit"] == 10_000 and len(page["records"]) == 10_000


@pytest.mark.parametrize("resource", [CONDITIONAL, "household-income-survey-synthetic"])
def test_datastore_never_serves_conditional_rows(bundled_client, resource):
    for ident in (resource, result(bundled_client, "package_show", id=resource)["resources"][0]["id"]):
        response = call(bundled_client, "datastore_search", resource_id=ident)
        assert response.status_code == 403
        body = response.json
        assert body["success"] is False and body["error"]["__type"] == "Authorization Error"
        assert "records" not in json.dumps(body)


@pytest.mark.parametrize("name, params, status, kind", [
    ("package_show", {"id": "nope"}, 404, "Not Found Error"),
    ("package_show", {}, 409, "Validation Error"),
    ("package_show", {"id": OPEN, "bogus": "1"}, 409, "Validation Error"),
    ("group_show", {"id": "nope"}, 404, "Not Found Error"),
    ("organization_show", {"id": "nope"}, 404, "Not Found Error"),
    ("package_search", {"rows": "ten"}, 409, "Validation Error"),
    ("package_search", {"start": "-1"}, 409, "Validation Error"),
    ("package_search", {"fq": "colour:red"}, 400, "Search Query Error"),
    ("package_search", {"fq": "tags:a OR tags:b"}, 400, "Search Query Error"),
    ("package_search", {"sort": "shoe_size desc"}, 400, "Search Query Error"),
    ("package_search", {"facet.field": '["colour"]'}, 400, "Search Query Error"),
    ("datastore_search", {"resource_id": "nope"}, 404, "Not Found Error"),
    ("datastore_search", {}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "filters": "{not json"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "filters": '{"zzz": 1}'}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "filters": '{"month": "June"}'}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "filters": '{"month": {"like": 1}}'}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "sort": "zzz"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "sort": "month sideways"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "fields": "zzz"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "limit": "0"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "offset": "x"}, 409, "Validation Error"),
    ("datastore_search", {"resource_id": OPEN, "distinct": "true"}, 409, "Validation Error"),
])
def test_errors_use_ckan_statuses_and_types(bundled_client, name, params, status, kind):
    response = call(bundled_client, name, **params)
    assert response.status_code == status, response.text
    body = response.json
    assert body["success"] is False and body["error"]["__type"] == kind and "help" in body


def test_unknown_action_and_bad_body(bundled_client):
    unknown = bundled_client.get("/api/3/action/package_create")
    assert unknown.status_code == 400 and "Action name not known" in unknown.json["error"]["message"]
    bad = bundled_client.post("/api/3/action/package_show", data="[1, 2]", content_type="application/json")
    assert bad.status_code == 400 and bad.json["success"] is False
    wrong_method = bundled_client.delete("/api/3/action/package_list")
    assert wrong_method.status_code == 405 and wrong_method.is_json  # routing fails before the blueprint


def test_rate_limit_answers_in_the_envelope(tmp_path):
    from tests.conftest import empty_app

    client = empty_app(tmp_path / "instance", RATELIMIT_ANON="2/minute").test_client()
    assert [client.get("/api/3/action/package_list").status_code for _ in range(2)] == [200, 200]
    limited = client.get("/api/3/action/package_list")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.json["success"] is False and limited.json["error"]["__type"]


def test_oversized_body_is_refused(tmp_path):
    from tests.conftest import empty_app

    client = empty_app(tmp_path / "instance", MAX_CONTENT_LENGTH=1024).test_client()
    response = client.post("/api/3/action/package_search", data=json.dumps({"q": "x" * 5000}),
                           content_type="application/json")
    assert response.status_code == 413 and response.json["success"] is False
