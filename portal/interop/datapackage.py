"""One dataset as a Frictionless Data Package (`/datasets/<slug>/datapackage.json`).

The package carries the metadata and the data dictionary (Table Schema fields with both
languages' descriptions, units and the identifier/sensitive flags under `kaifang`). For open
data the resource `path` is the CSV download, so `frictionless validate URL` checks the served
rows against the dictionary. Conditional and closed data (and data not yet loaded) get no data
URL: the resource holds the header only (inline `data`), so the package stays valid, no row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.catalog.rows import MIMETYPES
from portal.catalog.samples import FRICTIONLESS
from portal.catalog.schemas import DatasetDetail
from portal.interop.links import Links

WITHHELD = ("Rows withheld: this dataset is conditionally open (analysis in the portal's sandbox, "
            "disclosure-controlled aggregates only) or closed. The schema is its data dictionary.")


def package(record: DatasetDetail, links: Links) -> dict[str, Any]:
    s = record.summary
    body: dict[str, Any] = {
        "profile": "tabular-data-package", "name": s.slug, "id": links.dataset(s.slug),
        "title": s.title_en or s.title_zh, "description": s.description_en or s.description_zh,
        "homepage": links.dataset(s.slug), "keywords": list(dict.fromkeys(s.tags)),
        "created": _rfc3339(record.created_at),
        "licenses": [_licence(record)],
        "sources": [{k: v for k, v in src.items() if k in ("title", "path", "email")} for src in record.sources
                    if src.get("title")],
        "contributors": [{"title": s.department.name_en, "role": "publisher"}],
        "resources": [resource(record, links)],
        "kaifang": {"title_zh": s.title_zh, "description_zh": s.description_zh, "open_class": s.open_class,
                    "theme": s.theme.key, "department": s.department.key, "synthetic": s.synthetic,
                    "update_frequency": record.update_frequency},
    }
    if record.current:
        body["version"] = f"{record.current.number}.0.0"
    return body


def resource(record: DatasetDetail, links: Links) -> dict[str, Any]:
    current = record.current
    schema = table_schema(record)
    if current is None or not record.rows_visible:
        return {"name": "rows", "profile": "tabular-data-resource", "description": WITHHELD, "schema": schema,
                "data": [[f["name"] for f in schema["fields"]]]}
    return {
        "name": "rows", "path": links.download(record.summary.slug, "csv"), "profile": "tabular-data-resource",
        "format": "csv", "mediatype": MIMETYPES["csv"].split(";")[0], "encoding": "utf-8",
        "title": f"Version {current.number}", "description": current.note or current.rows_text(),
        "schema": schema,
    }


def table_schema(record: DatasetDetail) -> dict[str, Any]:
    """The version's columns (the declared dictionary before any data) with the dictionary's words,
    as a Table Schema."""
    described = {f.name: f for f in record.fields}
    columns = [(c.name, c.type) for c in record.current.columns] if record.current else \
        [(f.name, f.type) for f in record.fields]
    fields = []
    for name, kind in columns:
        field: dict[str, Any] = {"name": name, "type": FRICTIONLESS.get(kind, "string")}
        info = described.get(name)
        if info is not None:
            field["title"] = info.description_zh or name
            if info.description_en:
                field["description"] = info.description_en
            field["kaifang"] = {"unit": info.unit, "identifier": info.identifier, "sensitive": info.sensitive}
            if info.aggregates:
                field["kaifang"]["aggregates"] = list(info.aggregates)
        fields.append(field)
    return {"fields": fields}


def _licence(record: DatasetDetail) -> dict[str, str]:
    licence = {"name": record.licence["name"] or "other-closed", "title": record.licence["title"]}
    if record.licence["url"]:
        licence["path"] = record.licence["url"]
    return licence


def _rfc3339(moment: datetime) -> str:
    """UTC with a `Z`, whether the database handed back a naive (UTC) or an aware time."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
