"""The catalog as DCAT-AP 3 in JSON-LD (`/catalog.jsonld`), for EU-style harvesters.

Classes: `dcat:Catalog` → `dcat:Dataset` → `dcat:Distribution` (one per download format of open
data; the landing page only for conditional data; none for closed), `foaf:Agent` publishers,
`vcard:Kind` contact points, `dct:PeriodOfTime`, `dct:LicenseDocument`. Themes use the EU Data
Theme vocabulary (as DCAT-AP requires) plus the portal's own theme pages; frequency, access
rights, file types and languages use the EU authority tables. Text comes in both languages.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from portal.catalog.rows import MIMETYPES, download_formats
from portal.catalog.schemas import DatasetDetail
from portal.interop.links import Catalog, Links

EU = "http://publications.europa.eu/resource/authority/"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/", "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#", "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#", "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "adms": "http://www.w3.org/ns/adms#", "dcatap": "http://data.europa.eu/r5r/",
}
EU_THEMES = {
    "economy": "ECON", "environment": "ENVI", "transport": "TRAN", "health": "HEAL", "education": "EDUC",
    "employment": "SOCI", "housing": "REGI", "public-safety": "JUST", "culture": "EDUC", "agriculture": "AGRI",
    "weather": "ENVI", "geospatial": "REGI", "credit": "ECON", "finance": "ECON", "commerce": "ECON",
    "market-regulation": "ECON", "work-safety": "GOVE", "organisations": "GOVE", "life-services": "SOCI",
    "social-development": "SOCI", "legal-services": "JUST",
}
EU_THEME_LABELS = {
    "AGRI": "Agriculture, fisheries, forestry and food", "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport", "ENVI": "Environment", "GOVE": "Government and public sector",
    "HEAL": "Health", "JUST": "Justice, legal system and public safety", "REGI": "Regions and cities",
    "SOCI": "Population and society", "TRAN": "Transport",
}
FREQUENCIES = {"static": "NEVER", "annual": "ANNUAL", "quarterly": "QUARTERLY", "monthly": "MONTHLY",
               "weekly": "WEEKLY", "daily": "DAILY", "realtime": "UPDATE_CONT", "irregular": "IRREG"}
ACCESS = {"open": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}
FILE_TYPES = {"csv": "CSV", "xlsx": "XLSX", "json": "JSON", "parquet": "PARQUET", "geojson": "GEOJSON"}
# Nodes from the EU vocabularies are typed here, as DCAT-AP's SHACL shapes expect of a
# self-contained document (a harvester need not load the vocabularies to validate it).
LANGUAGES = [{"@id": EU + "language/ZHO", "@type": "dct:LinguisticSystem"},
             {"@id": EU + "language/ENG", "@type": "dct:LinguisticSystem"}]
IANA = {"csv": "text/csv", "json": "application/json", "geojson": "application/geo+json",
        "parquet": "application/vnd.apache.parquet",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def catalog(records: tuple[DatasetDetail, ...], links: Links, info: Catalog) -> dict[str, Any]:
    """The whole catalog as one JSON-LD document."""
    publisher = {"@id": links.home() + "#publisher", "@type": "foaf:Agent", "foaf:name": info.publisher}
    modified = max((r.summary.updated_at for r in records), default=None)
    body: dict[str, Any] = {
        "@context": CONTEXT, "@id": links.catalog("dcat"), "@type": "dcat:Catalog",
        "dct:title": _text(info.title, None), "dct:description": [
            _lang("城市政府开放数据目录", "zh"), _lang("Open data catalog of the city government", "en")],
        "dct:publisher": publisher, "foaf:homepage": {"@id": links.home(), "@type": "foaf:Document"},
        "dct:language": LANGUAGES,
        "dcat:themeTaxonomy": {"@id": EU + "data-theme", "@type": "skos:ConceptScheme",
                               "dct:title": _lang("Data theme", "en")},
        "dcat:contactPoint": _contact(info.publisher, info.contact_email),
        "dcat:dataset": [dataset(r, links, info) for r in records],
    }
    if modified:
        body["dct:modified"] = _datetime(modified)
    return body


def dataset(record: DatasetDetail, links: Links, info: Catalog) -> dict[str, Any]:
    s = record.summary
    page = links.dataset(s.slug)
    body: dict[str, Any] = {
        "@id": page + "#dataset", "@type": "dcat:Dataset",
        "dct:identifier": s.slug, "dct:title": [_lang(s.title_zh, "zh"), _lang(s.title_en, "en")],
        "dct:description": [_lang(s.description_zh or s.title_zh, "zh"), _lang(s.description_en or s.title_en, "en")],
        "dcat:keyword": [_lang(t, "zh") for t in record.tags_zh] + [_lang(t, "en") for t in record.tags_en],
        "dcat:theme": [_eu_theme(EU_THEMES.get(s.theme.key, "GOVE")),
                       {"@id": links.theme(s.theme.key), "@type": "skos:Concept",
                        "skos:prefLabel": [_lang(s.theme.name_zh, "zh"), _lang(s.theme.name_en, "en")]}],
        "dct:publisher": {"@id": links.department(s.department.key), "@type": "foaf:Agent",
                          "foaf:name": [_lang(s.department.name_zh, "zh"), _lang(s.department.name_en, "en")]},
        "dcat:contactPoint": _contact(record.contact_name or s.department.name_en,
                                      record.contact_email or info.contact_email),
        "dcat:landingPage": {"@id": page, "@type": "foaf:Document"},
        "dct:issued": _datetime(record.created_at), "dct:modified": _datetime(s.updated_at),
        "dct:accessRights": {"@id": EU + "access-right/" + ACCESS[s.open_class], "@type": "dct:RightsStatement"},
        "dct:accrualPeriodicity": {"@id": EU + "frequency/" + FREQUENCIES.get(record.update_frequency, "IRREG"),
                                   "@type": "dct:Frequency"},
        "dct:language": LANGUAGES,
        "dcat:distribution": distributions(record, links),
    }
    if record.temporal_start or record.temporal_end:
        body["dct:temporal"] = _period(record.temporal_start, record.temporal_end)
    if record.spatial_zh or record.spatial_en:
        body["dct:spatial"] = {"@type": "dct:Location",
                               "skos:prefLabel": _text(record.spatial_zh, "zh") + _text(record.spatial_en, "en")}
    if record.current:
        body["dcat:version"] = str(record.current.number)
    return body


def distributions(record: DatasetDetail, links: Links) -> list[dict[str, Any]]:
    """Download files of open data; for conditional data, the page that explains how to apply."""
    s, current = record.summary, record.current
    if current is None or s.open_class == "closed":
        return []
    licence = _licence(record)
    if s.open_class != "open":
        return [{"@id": links.dataset(s.slug) + "#access", "@type": "dcat:Distribution",
                 "dct:title": [_lang("申请使用（沙箱分析）", "zh"), _lang("Access on application (sandbox analysis)", "en")],
                 "dct:description": _lang("Rows are not downloadable; approved analysts receive disclosure-controlled aggregates.", "en"),
                 "dcat:accessURL": {"@id": links.dataset(s.slug)}, "dct:license": licence,
                 "dct:rights": {"@type": "dct:RightsStatement",
                                "rdfs:label": _lang("Restricted: conditional open data", "en")}}]
    return [_distribution(record, fmt, links, licence) for fmt in download_formats(record.coordinates)]


def _distribution(record: DatasetDetail, fmt: str, links: Links, licence: dict) -> dict[str, Any]:
    s, current = record.summary, record.current
    url = links.download(s.slug, fmt)
    body: dict[str, Any] = {
        "@id": url, "@type": "dcat:Distribution", "dct:title": _lang(f"{s.title_en} ({fmt.upper()})", "en"),
        "dct:description": _lang(f"Version {current.number}: {current.rows_text()}", "en"),
        "dcat:accessURL": {"@id": url}, "dcat:downloadURL": {"@id": url},
        "dct:license": licence, "dct:issued": _datetime(current.created_at), "dct:modified": _datetime(current.created_at),
        "dct:conformsTo": {"@id": links.datapackage(s.slug), "@type": "dct:Standard"},
    }
    if current.export_sizes.get(fmt) is not None:
        body["dcat:byteSize"] = {"@value": str(current.export_sizes[fmt]), "@type": "xsd:nonNegativeInteger"}
    if fmt in FILE_TYPES:
        body["dct:format"] = {"@id": EU + "file-type/" + FILE_TYPES[fmt], "@type": "dct:MediaTypeOrExtent"}
    else:
        body["dct:format"] = {"@type": "dct:MediaTypeOrExtent", "rdfs:label": MIMETYPES[fmt]}
    if fmt in IANA:
        body["dcat:mediaType"] = {"@id": "https://www.iana.org/assignments/media-types/" + IANA[fmt],
                                  "@type": "dct:MediaType"}
    return body


def _eu_theme(code: str) -> dict[str, Any]:
    return {"@id": EU + "data-theme/" + code, "@type": "skos:Concept",
            "skos:prefLabel": _lang(EU_THEME_LABELS[code], "en")}


def _licence(record: DatasetDetail) -> dict[str, Any]:
    licence = record.licence
    return {"@id": licence["url"] or f"https://spdx.org/licenses/{licence['name']}", "@type": "dct:LicenseDocument",
            "dct:title": licence["title"] or licence["name"], "dct:identifier": licence["name"]}


def _contact(name: str, email: str) -> dict[str, Any]:
    body: dict[str, Any] = {"@type": "vcard:Kind", "vcard:fn": name}
    if email:
        body["vcard:hasEmail"] = {"@id": f"mailto:{email}"}
    return body


def _period(start: date | None, end: date | None) -> dict[str, Any]:
    body: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
    if start:
        body["dcat:startDate"] = {"@value": start.isoformat(), "@type": "xsd:date"}
    if end:
        body["dcat:endDate"] = {"@value": end.isoformat(), "@type": "xsd:date"}
    return body


def _lang(text: str, lang: str) -> dict[str, str]:
    return {"@value": text, "@language": lang}


def _text(text: str, lang: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    return [_lang(text, lang)] if lang else [{"@value": text}]


def _datetime(value: datetime) -> dict[str, str]:
    return {"@value": value.replace(microsecond=0).isoformat(), "@type": "xsd:dateTime"}
