"""The catalog as Project Open Data 1.1 `data.json` (the US federal and many cities' harvest format).

Every dataset carries the schema's required fields (title, description, keyword, modified,
publisher, contactPoint, identifier, accessLevel). `bureauCode` and `programCode` are left out:
POD 1.1 requires them of US federal agencies only, and a city has no OMB codes to give.
Conditional data is `restricted public` with `rights` saying how to apply and no download;
closed data is `non-public`. `describedBy` points at the dataset's Data Package (its dictionary).
"""

from __future__ import annotations

from typing import Any

from portal.catalog.rows import MIMETYPES, download_formats
from portal.catalog.schemas import DatasetDetail
from portal.interop.links import Catalog, Links

ACCESS_LEVELS = {"open": "public", "conditional": "restricted public", "closed": "non-public"}
PERIODICITY = {"static": None, "annual": "R/P1Y", "quarterly": "R/P3M", "monthly": "R/P1M", "weekly": "R/P1W",
               "daily": "R/P1D", "realtime": "R/PT1S", "irregular": "irregular"}
RIGHTS = {
    "conditional": "Conditionally open: rows are not downloadable; approved analysts receive disclosure-controlled "
                   "aggregates. Apply on the dataset page.",
    "closed": "Closed: listed for transparency; no data is released.",
}


def catalog(records: tuple[DatasetDetail, ...], links: Links, info: Catalog) -> dict[str, Any]:  # noqa: ARG001
    return {
        "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
        "@id": links.catalog("data_json"), "@type": "dcat:Catalog",
        "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
        "describedBy": "https://project-open-data.cio.gov/v1.1/schema/catalog.json",
        "dataset": [dataset(r, links, info) for r in records],
    }


def dataset(record: DatasetDetail, links: Links, info: Catalog) -> dict[str, Any]:
    s = record.summary
    body: dict[str, Any] = {
        "@type": "dcat:Dataset", "identifier": links.dataset(s.slug),
        "title": s.title_en or s.title_zh, "description": s.description_en or s.description_zh or s.title_en,
        "keyword": list(dict.fromkeys(s.tags)) or [s.theme.name_en],
        "modified": s.updated_at.replace(microsecond=0).isoformat(),
        "issued": record.created_at.date().isoformat(),
        "publisher": {"@type": "org:Organization", "name": s.department.name_en,
                      "subOrganizationOf": {"@type": "org:Organization", "name": info.publisher}},
        "contactPoint": {"@type": "vcard:Contact", "fn": record.contact_name or s.department.name_en,
                         "hasEmail": "mailto:" + (record.contact_email or info.contact_email)},
        "accessLevel": ACCESS_LEVELS[s.open_class],
        "landingPage": links.dataset(s.slug), "theme": [s.theme.name_en],
        "language": ["zh", "en"], "describedBy": links.datapackage(s.slug),
        "describedByType": "application/vnd.datapackage+json",
        "distribution": distributions(record, links),
    }
    optional = {
        "license": record.licence["url"] or None, "rights": RIGHTS.get(s.open_class),
        "spatial": record.spatial_en or record.spatial_zh or None,
        "temporal": _temporal(record), "accrualPeriodicity": PERIODICITY.get(record.update_frequency),
    }
    body.update({k: v for k, v in optional.items() if v})
    return body


def distributions(record: DatasetDetail, links: Links) -> list[dict[str, Any]]:
    s = record.summary
    if record.current is None or not record.rows_visible:
        return [{"@type": "dcat:Distribution", "accessURL": links.dataset(s.slug), "format": "Web page",
                 "title": "How to apply for access"}] if s.open_class == "conditional" else []
    return [{"@type": "dcat:Distribution", "downloadURL": links.download(s.slug, fmt),
             "mediaType": MIMETYPES[fmt].split(";")[0], "format": fmt.upper(), "title": f"{s.title_en} ({fmt.upper()})",
             "describedBy": links.datapackage(s.slug), "describedByType": "application/vnd.datapackage+json"}
            for fmt in download_formats(record.coordinates)]


def _temporal(record: DatasetDetail) -> str | None:
    start, end = record.temporal_start, record.temporal_end
    if not (start or end):
        return None
    return f"{(start or end).isoformat()}/{(end or start).isoformat()}"
