"""Catalog records as the dicts CKAN clients expect from the Action API (CKAN 2.10's shapes).

Datasets are packages, themes are groups, departments are organizations. An open dataset has one
resource per download format, all backed by the same DataStore table (`datastore_active`); a
conditional dataset has only its synthetic sample; a closed one has none. Chinese is the primary
language (`title`, `notes`); both languages are in `title_translated`/`notes_translated`
(ckanext-fluent's convention) and English also in `extras`.
"""

from __future__ import annotations

from typing import Any

from portal.catalog.rows import MIMETYPES, download_formats
from portal.catalog.schemas import DatasetDetail, Named
from portal.interop.links import Links, stable_id

FORMAT_LABELS = {"csv": "CSV", "xlsx": "XLSX", "json": "JSON", "ndjson": "NDJSON", "parquet": "Parquet", "geojson": "GeoJSON",
                 "sample": "ZIP"}
OPEN_LICENCES = frozenset({"CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "ODC-BY-1.0", "ODC-PDDL-1.0", "ODbL-1.0",
                           "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "other-pd", "other-open"})
RESOURCE_KINDS = (*FORMAT_LABELS,)


def package_id(slug: str) -> str:
    return stable_id("dataset", slug)


def resource_id(slug: str, kind: str) -> str:
    return stable_id("resource", f"{slug}/{kind}")


def package(detail: DatasetDetail, links: Links) -> dict[str, Any]:
    """One dataset as `package_show` returns it."""
    s = detail.summary
    resources = _resources(detail, links)
    tags = [{"id": stable_id("tag", t), "name": t, "display_name": t, "state": "active", "vocabulary_id": None}
            for t in s.tags]
    contact = detail.contact_name or s.department.name_en
    return {
        "id": package_id(s.slug), "name": s.slug, "title": s.title_zh, "notes": s.description_zh or s.description_en,
        "title_translated": {"zh": s.title_zh, "en": s.title_en},
        "notes_translated": {"zh": s.description_zh, "en": s.description_en},
        "type": "dataset", "state": "active", "private": False,
        "url": links.dataset(s.slug), "version": str(detail.current.number) if detail.current else None,
        "author": s.department.name_zh, "author_email": None,
        "maintainer": contact, "maintainer_email": detail.contact_email or None,
        "license_id": detail.licence["name"] or None, "license_title": detail.licence["title"] or None,
        "license_url": detail.licence["url"] or None, "isopen": detail.licence["name"] in OPEN_LICENCES,
        "metadata_created": detail.created_at.isoformat(), "metadata_modified": s.updated_at.isoformat(),
        "owner_org": stable_id("department", s.department.key),
        "organization": organization(s.department, links),
        "groups": [group(s.theme, links)],
        "tags": tags, "num_tags": len(tags),
        "resources": resources, "num_resources": len(resources),
        "extras": _extras(detail),
        "relationships_as_object": [], "relationships_as_subject": [],
    }


def group(theme: Named, links: Links, *, packages: list[dict] | None = None) -> dict[str, Any]:
    """A theme as a CKAN group."""
    return _party(stable_id("theme", theme.key), theme, links.theme(theme.key), "group", packages)


def organization(department: Named, links: Links, *, packages: list[dict] | None = None) -> dict[str, Any]:
    """A department as a CKAN organization."""
    return _party(stable_id("department", department.key), department, links.department(department.key),
                  "organization", packages)


def _party(ident: str, named: Named, url: str, kind: str, packages: list[dict] | None) -> dict[str, Any]:
    body = {
        "id": ident, "name": named.key, "title": named.name_zh, "display_name": named.name_zh,
        "title_translated": {"zh": named.name_zh, "en": named.name_en},
        "description": named.name_en, "type": kind, "is_organization": kind == "organization",
        "state": "active", "approval_status": "approved", "image_url": "", "image_display_url": "",
        "url": url, "package_count": named.count,
    }
    if packages is not None:
        body["packages"] = packages
    return body


def _resources(detail: DatasetDetail, links: Links) -> list[dict[str, Any]]:
    current, slug = detail.current, detail.summary.slug
    if current is None:
        return []
    if detail.rows_visible:
        kinds = download_formats(detail.coordinates)
        made = [_resource(detail, kind, links.download(slug, kind), MIMETYPES[kind], datastore=True) for kind in kinds]
    elif current.has_sample:
        made = [_resource(detail, "sample", links.sample(slug), "application/zip", datastore=False)]
    else:
        made = []
    for position, resource in enumerate(made):
        resource["position"] = position
    return made


def _resource(detail: DatasetDetail, kind: str, url: str, mimetype: str, *, datastore: bool) -> dict[str, Any]:
    s, current = detail.summary, detail.current
    label = FORMAT_LABELS[kind]
    if kind == "sample":
        name, description = f"{s.title_zh}（样本数据，合成）", "Synthetic sample (no real record) as a Data Package zip"
    else:
        name, description = f"{s.title_zh} ({label})", f"Version {current.number}, {current.rows_text()}"
    return {
        "id": resource_id(s.slug, kind), "package_id": package_id(s.slug), "name": name,
        "description": description, "format": label, "url": url, "mimetype": mimetype.split(";")[0],
        "datastore_active": datastore, "state": "active", "url_type": None, "resource_type": "file",
        "created": current.created_at.isoformat(), "last_modified": current.created_at.isoformat(),
        "size": current.export_sizes.get(kind), "hash": "",
    }


def _extras(detail: DatasetDetail) -> list[dict[str, str]]:
    s = detail.summary
    values = {
        "open_class": s.open_class, "title_en": s.title_en, "notes_en": s.description_en,
        "update_frequency": detail.update_frequency, "spatial": detail.spatial_zh or detail.spatial_en,
        "temporal_start": detail.temporal_start.isoformat() if detail.temporal_start else "",
        "temporal_end": detail.temporal_end.isoformat() if detail.temporal_end else "",
        "synthetic": "true" if s.synthetic else "false",
        "row_count": str(s.row_count) if s.row_count is not None else "",
        "row_count_approx": str(s.row_count_approx) if s.row_count_approx is not None else "",
        "closed_reason": detail.closed_reason or "",
    }
    return [{"key": k, "value": v} for k, v in values.items() if v]
