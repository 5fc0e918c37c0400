"""Hostile parameters for every CKAN action, as query strings and as JSON: never a 500, always
CKAN's envelope with `success: false` and a 4xx (or a normal answer where the value is fine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.api.ckan_actions import ACTIONS
from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import DATASETS, make_app

SMALL = "china-smoking-lung-cancer"

LISTS = ("all_fields", "sort", "limit", "offset")
PARAMS = {
    "package_list": ("limit", "offset"), "package_show": ("id",),
    "package_search": ("q", "fq", "rows", "start", "sort", "facet.field", "facet.limit"),
    "group_list": LISTS, "organization_list": LISTS,
    "group_show": ("id", "include_datasets"), "organization_show": ("id", "include_datasets"),
    "tag_list": ("query", "all_fields"), "status_show": ("id",), "help_show": ("name",),
    "datastore_search": ("resource_id", "filters", "q", "sort", "fields", "limit", "offset", "records_format"),
}


def test_every_action_is_exercised():
    assert set(PARAMS) == set(ACTIONS)
TEXT_VALUES = ("", "x" * 3000, "-1", "99999999999999999999", "[]", "{}", "null", '{"a":', "\x00", "1e999",
               "' OR 1=1 --", "tags:", "*:* OR", "_id desc", "../../etc/passwd", "中文")
JSON_VALUES = (None, [], {}, 1.5, True, -1, ["a", 1], {"a": {"b": []}}, "x" * 3000)


@pytest.fixture(scope="module")
def sweep_client(tmp_path_factory):
    """Its own app with one small dataset and a limit the sweep cannot reach (a 429 would hide
    what the parameters do, and would throttle the shared catalog app of later tests)."""
    from portal.catalog import publishing

    app = make_app(tmp_path_factory.mktemp("ckan-sweep") / "instance", RATELIMIT_ANON="100000/minute")
    with app.app_context(), session_scope(app) as session:
        publishing.load_package(session, SYSTEM, DATASETS / SMALL, data_dir=Path(app.config["DATA_DIR"]))
    return app.test_client()


def _check(response):
    assert response.status_code < 500 and response.status_code != 429, response.text[:300]
    body = response.json
    assert isinstance(body, dict) and "success" in body
    if response.status_code >= 400:
        assert body["success"] is False and body["error"]["__type"]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_query_strings(sweep_client, action):
    for param in PARAMS[action]:
        for value in TEXT_VALUES:
            base = {"resource_id": SMALL} if action == "datastore_search" and param != "resource_id" else {}
            _check(sweep_client.get(f"/api/3/action/{action}", query_string={**base, param: value}))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_json_bodies(sweep_client, action):
    for param in PARAMS[action]:
        for value in JSON_VALUES:
            base = {"resource_id": SMALL} if action == "datastore_search" and param != "resource_id" else {}
            _check(sweep_client.post(f"/api/3/action/{action}", json={**base, param: value}))
