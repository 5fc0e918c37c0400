"""The CKAN actions Kaifang answers, each `(session, actor, data, env) -> result`.

They call the catalog's services (`portal.catalog.service`, `records`) and shape with
`portal.interop.ckan`; they never query the database themselves. Semantics follow CKAN 2.10's
`logic/action/get.py` and `ckanext/datastore`: defaults, limits (`rows` ≤ 1000 clamped, like
`ckan.search.rows_max`), name-or-id lookups and the result keys clients read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from portal.api import ckan_datastore
from portal.api.ckan_params import (
    SearchQueryError,
    boolean,
    check_keys,
    field_terms,
    integer,
    invalid,
    looks_like_terms,
    required_text,
    sort_keys,
    text_list,
)
from portal.auth import Actor
from portal.catalog import records, service
from portal.catalog.schemas import Named
from portal.errors import NotFound
from portal.interop import ckan
from portal.interop.links import Catalog, Links, stable_id
from portal.search.service import matching_slugs

ROWS_MAX = 1000
FACET_FIELDS = frozenset({"tags", "groups", "organization", "res_format", "license_id"})
FQ_FIELDS = FACET_FIELDS | {"name", "id", "open_class"}
SORTS = frozenset({"score", "metadata_modified", "metadata_created", "name", "title_string"})


@dataclass(frozen=True)
class Env:
    """What actions need from the request, resolved by the view."""

    links: Links
    catalog: Catalog
    data_dir: Path
    action_path: Callable[[str], str]  # relative URL of an action, for datastore `_links`


ACTIONS: dict[str, Callable[[Session, Actor, dict, Env], Any]] = {}


def action(fn):
    ACTIONS[fn.__name__] = fn
    return fn


@action
def package_list(session: Session, actor: Actor, data: dict, env: Env) -> list[str]:
    """Names of all visible datasets; `limit` and `offset` page them."""
    check_keys(data, {"limit", "offset"})
    names = records.list_slugs(session, actor)
    offset = integer(data, "offset", 0)
    limit = integer(data, "limit", len(names), minimum=0)
    return list(names[offset:offset + limit])


@action
def package_show(session: Session, actor: Actor, data: dict, env: Env) -> dict:
    """One dataset by name or id."""
    check_keys(data, {"id", "use_default_schema", "include_tracking", "include_plugin_data"})
    wanted = required_text(data, "id")
    return ckan.package(records.get_record(session, actor, _slug_of(session, actor, wanted)), env.links)


@action
def package_search(session: Session, actor: Actor, data: dict, env: Env) -> dict:
    """Datasets matching `q` and `fq`, sorted and paged, with facet counts."""
    check_keys(data, {"q", "fq", "fq_list", "rows", "start", "sort", "facet", "facet.field", "facet.limit",
                      "facet.mincount", "include_private", "include_drafts", "include_deleted",
                      "use_default_schema", "defType", "qf"})
    rows = integer(data, "rows", 10, maximum=ROWS_MAX, clamp=True)
    start = integer(data, "start", 0)
    q, terms = _query_terms(data)
    found = records.list_records(session, actor)
    if q:  # in the search engine's order, which `score desc` (the default sort) keeps
        rank = {slug: n for n, slug in enumerate(matching_slugs(session, actor, q))}
        found = sorted((r for r in found if r.summary.slug in rank), key=lambda r: rank[r.summary.slug])
    packages = [p for p in (ckan.package(r, env.links) for r in found) if _matches(p, terms)]
    sort_text = _text(data, "sort") or "score desc, metadata_modified desc"
    packages = _sorted(packages, sort_keys(sort_text, SORTS))
    facets = _facets(packages, data) if boolean(data, "facet", True) else {}
    return {"count": len(packages), "results": packages[start:start + rows], "sort": sort_text,
            "facets": {k: {i["name"]: i["count"] for i in v["items"]} for k, v in facets.items()},
            "search_facets": facets}


@action
def group_list(session: Session, actor: Actor, data: dict, env: Env) -> list:
    """The 21 themes, as names or (`all_fields`) group dicts."""
    return _parties(data, service.list_themes(session, actor), lambda n: ckan.group(n, env.links))


@action
def organization_list(session: Session, actor: Actor, data: dict, env: Env) -> list:
    """The departments, as names or (`all_fields`) organization dicts."""
    return _parties(data, records.list_departments(session, actor), lambda n: ckan.organization(n, env.links))


@action
def group_show(session: Session, actor: Actor, data: dict, env: Env) -> dict:
    """One theme by name or id; `include_datasets` adds its datasets."""
    named = _party_by(data, service.list_themes(session, actor), "theme")
    packages = _packages_where(session, actor, env, lambda r: r.summary.theme.key == named.key, data)
    return ckan.group(named, env.links, packages=packages)


@action
def organization_show(session: Session, actor: Actor, data: dict, env: Env) -> dict:
    """One department by name or id; `include_datasets` adds its datasets."""
    named = _party_by(data, records.list_departments(session, actor), "department")
    packages = _packages_where(session, actor, env, lambda r: r.summary.department.key == named.key, data)
    return ckan.organization(named, env.links, packages=packages)


@action
def tag_list(session: Session, actor: Actor, data: dict, env: Env) -> list:
    """Tags of the visible datasets; `query` keeps those containing it."""
    check_keys(data, {"query", "vocabulary_id", "all_fields"})
    query = (_text(data, "query") or "").lower()
    tags = [t for t in records.list_tags(session, actor) if query in t.key.lower()]
    if boolean(data, "all_fields", False):
        return [{"id": stable_id("tag", t.key), "name": t.key, "display_name": t.key, "vocabulary_id": None}
                for t in tags]
    return [t.key for t in tags]


@action
def status_show(session: Session, actor: Actor, data: dict, env: Env) -> dict:  # noqa: ARG001 - public facts
    """What this site is and which CKAN API level it answers."""
    check_keys(data, set())
    return {"site_title": env.catalog.title, "site_description": env.catalog.publisher,
            "site_url": env.links.home().rstrip("/"), "ckan_version": "2.10.0", "error_emails_to": None,
            "locale_default": "zh_Hans_CN", "extensions": ["datastore"]}


@action
def datastore_search(session: Session, actor: Actor, data: dict, env: Env) -> dict:
    """Rows of an open dataset's table; conditional and closed data answer Authorization Error."""
    return ckan_datastore.search(session, actor, data, data_dir=env.data_dir,
                                 next_url=lambda args: env.action_path("datastore_search", args))


def _slug_of(session: Session, actor: Actor, wanted: str) -> str:
    """A dataset's slug from its name or its package id."""
    for slug in records.list_slugs(session, actor):
        if wanted in (slug, ckan.package_id(slug)):
            return slug
    raise NotFound("dataset", wanted)


def _text(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid(name, "Must be a string")


def _query_terms(data: dict) -> tuple[str, list[tuple[str, str, bool]]]:
    q = (_text(data, "q") or "").strip()
    terms = field_terms(_text(data, "fq") or "", FQ_FIELDS)
    for extra in text_list(data, "fq_list") or []:
        terms += field_terms(extra, FQ_FIELDS)
    if q in ("*:*", "*"):
        q = ""
    elif looks_like_terms(q, FQ_FIELDS):
        terms, q = terms + field_terms(q, FQ_FIELDS), ""
    return q, terms


def _values(package: dict, field: str) -> list[str]:
    if field == "tags":
        return [t["name"] for t in package["tags"]]
    if field == "groups":
        return [g["name"] for g in package["groups"]]
    if field == "organization":
        return [package["organization"]["name"]]
    if field == "res_format":
        return [r["format"] for r in package["resources"]]
    if field == "open_class":
        return [e["value"] for e in package["extras"] if e["key"] == "open_class"]
    return [package[field] or ""]


def _matches(package: dict, terms: list[tuple[str, str, bool]]) -> bool:
    for field, value, negated in terms:
        found = value.lower() in (v.lower() for v in _values(package, field))
        if found == negated:
            return False
    return True


def _sorted(packages: list[dict], keys: list[tuple[str, bool]]) -> list[dict]:
    """Stable sort, last key first. `score` is the order the search returned (best first)."""
    ranked = list(enumerate(packages))
    columns = {"name": "name", "title_string": "title", "metadata_modified": "metadata_modified",
               "metadata_created": "metadata_created"}
    for key, descending in reversed(keys):
        if key == "score":
            ranked.sort(key=lambda pair: pair[0], reverse=not descending)
        else:
            ranked.sort(key=lambda pair, k=columns[key]: pair[1][k] or "", reverse=descending)
    return [p for _, p in ranked]


def _facets(packages: list[dict], data: dict) -> dict[str, dict]:
    wanted = text_list(data, "facet.field") or []
    unknown = [f for f in wanted if f not in FACET_FIELDS]
    if unknown:
        raise SearchQueryError(f"Search Query is invalid: cannot facet on {unknown[0]!r}; "
                               f"one of {', '.join(sorted(FACET_FIELDS))}")
    limit = integer(data, "facet.limit", 50, minimum=-1)
    titles = {}
    for package in packages:
        titles.update({g["name"]: g["display_name"] for g in package["groups"]})
        titles[package["organization"]["name"]] = package["organization"]["display_name"]
    facets = {}
    for field in wanted:
        counts = Counter(v for p in packages for v in set(_values(p, field)))
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        items = ordered if limit < 0 else ordered[:limit]
        facets[field] = {"title": field, "items": [{"name": n, "display_name": titles.get(n, n), "count": c}
                                                   for n, c in items]}
    return facets


def _parties(data: dict, named: tuple[Named, ...], shape: Callable[[Named], dict]) -> list:
    check_keys(data, {"all_fields", "sort", "limit", "offset", "groups", "organizations", "type",
                      "include_dataset_count", "include_extras", "include_tags", "include_groups", "include_users"})
    chosen = list(named)
    for key, descending in reversed(sort_keys(_text(data, "sort") or "name asc",
                                              frozenset({"name", "title", "package_count"}))):
        attribute = {"name": "key", "title": "name_zh", "package_count": "count"}[key]
        chosen.sort(key=lambda n, a=attribute: getattr(n, a), reverse=descending)
    offset = integer(data, "offset", 0)
    chosen = chosen[offset:offset + integer(data, "limit", len(chosen))]
    return [shape(n) for n in chosen] if boolean(data, "all_fields", False) else [n.key for n in chosen]


def _party_by(data: dict, named: tuple[Named, ...], kind: str) -> Named:
    check_keys(data, {"id", "include_datasets", "include_dataset_count", "include_extras", "include_users",
                      "include_groups", "include_tags", "include_followers"})
    wanted = required_text(data, "id")
    for item in named:
        if wanted in (item.key, stable_id(kind, item.key)):
            return item
    raise NotFound(kind, wanted)


def _packages_where(session: Session, actor: Actor, env: Env, keep, data: dict) -> list[dict] | None:
    if not boolean(data, "include_datasets", False):
        return None
    return [ckan.package(r, env.links) for r in records.list_records(session, actor) if keep(r)][:ROWS_MAX]


@action
def help_show(session: Session, actor: Actor, data: dict, env: Env) -> str:  # noqa: ARG001 - documentation only
    """The documentation of an action (the `help` link of every answer points here)."""
    check_keys(data, {"name"})
    name = required_text(data, "name")
    if name not in ACTIONS:
        raise NotFound("action", name)
    return ACTIONS[name].__doc__ or name
