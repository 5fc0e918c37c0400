"""DCAT-AP 3 (parsed with rdflib), data.json (POD 1.1 JSON Schema) and Data Packages (frictionless)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from rdflib import Graph, Namespace
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from portal.auth import SYSTEM
from portal.db import session_scope
from tests.conftest import DATASETS, empty_app

OPEN, CONDITIONAL, SMALL = "nyc-flights-2013", "clinic-visits-synthetic", "china-smoking-lung-cancer"
CLOSED = "us-state-crime-2009"
POD = Path(__file__).parent / "pod_v1_1"
EU = Namespace("http://publications.europa.eu/resource/authority/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")


@pytest.fixture(scope="module")
def graph(bundled_app):
    response = bundled_app.test_client().get("/catalog.jsonld")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    with warnings.catch_warnings():  # rdflib 7's own JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
        return Graph().parse(data=response.text, format="json-ld")


def _one(graph, subject, predicate):
    values = list(graph.objects(subject, predicate))
    assert values, f"{subject} has no {predicate}"
    return values[0]


def test_dcat_catalog_has_the_mandatory_properties(graph, bundled_client):
    catalogs = list(graph.subjects(RDF.type, DCAT.Catalog))
    assert len(catalogs) == 1
    catalog = catalogs[0]
    for predicate in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, FOAF.homepage, DCTERMS.language):
        _one(graph, catalog, predicate)
    assert (_one(graph, catalog, DCTERMS.publisher), RDF.type, FOAF.Agent) in graph
    datasets = set(graph.objects(catalog, DCAT.dataset))
    names = bundled_client.get("/api/3/action/package_list").json["result"]
    assert len(datasets) == len(names) and all((d, RDF.type, DCAT.Dataset) in graph for d in datasets)


def test_dcat_conforms_to_the_dcat_ap_3_shapes(graph):
    """The official DCAT-AP 3.0.0 SHACL shapes (vendored, see dcat_ap_3/README.md): no violation."""
    import pyshacl

    shapes = Graph().parse(Path(__file__).parent / "dcat_ap_3" / "dcat-ap-SHACL.ttl")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        conforms, _, text = pyshacl.validate(graph, shacl_graph=shapes, inference="rdfs", allow_warnings=True)
    assert conforms, text[:3000]


def test_dcat_datasets_and_distributions(graph):
    for dataset in graph.subjects(RDF.type, DCAT.Dataset):
        for predicate in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.contactPoint, DCAT.theme,
                          DCAT.keyword, DCTERMS.accessRights, DCAT.landingPage, DCTERMS.modified, DCTERMS.identifier):
            _one(graph, dataset, predicate)
        themes = set(graph.objects(dataset, DCAT.theme))
        assert any(str(t).startswith(str(EU["data-theme/"])) for t in themes)
        assert {str(o.language) for o in graph.objects(dataset, DCTERMS.title)} == {"zh", "en"}
        contact = _one(graph, dataset, DCAT.contactPoint)
        assert str(_one(graph, contact, VCARD.hasEmail)).startswith("mailto:")
        for distribution in graph.objects(dataset, DCAT.distribution):
            assert (distribution, RDF.type, DCAT.Distribution) in graph
            _one(graph, distribution, DCAT.accessURL)
            assert (_one(graph, distribution, DCTERMS.license), RDF.type, DCTERMS.LicenseDocument) in graph


def _dataset_node(graph, slug):
    return next(s for s in graph.subjects(DCTERMS.identifier, None) if str(_one(graph, s, DCTERMS.identifier)) == slug)


def test_dcat_open_and_conditional_access(graph):
    flights = _dataset_node(graph, OPEN)
    assert _one(graph, flights, DCTERMS.accessRights) == EU["access-right/PUBLIC"]
    formats = {_one(graph, d, DCTERMS.format) for d in graph.objects(flights, DCAT.distribution)}
    assert {EU["file-type/CSV"], EU["file-type/PARQUET"]} <= formats
    assert all(list(graph.objects(d, DCAT.downloadURL)) for d in graph.objects(flights, DCAT.distribution))
    period = _one(graph, flights, DCTERMS.temporal)
    assert (period, RDF.type, DCTERMS.PeriodOfTime) in graph
    assert str(_one(graph, period, DCAT.startDate)) == "2013-01-01"
    clinic = _dataset_node(graph, CONDITIONAL)
    assert _one(graph, clinic, DCTERMS.accessRights) == EU["access-right/RESTRICTED"]
    for distribution in graph.objects(clinic, DCAT.distribution):
        assert not list(graph.objects(distribution, DCAT.downloadURL))
        assert "/download/" not in str(_one(graph, distribution, DCAT.accessURL))


def _pod_validator():
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    schemas = {name: json.loads((POD / f"{name}.json").read_text()) for name in
               ("catalog", "dataset", "distribution", "organization", "vcard")}
    # bureauCode and programCode are "Federal agencies only" (US OMB codes): see pod_v1_1/README.md.
    schemas["dataset"]["required"] = [r for r in schemas["dataset"]["required"] if r not in ("bureauCode", "programCode")]
    registry = Registry().with_resources(
        (schema["id"].rstrip("#"), Resource.from_contents(schema, default_specification=DRAFT4))
        for schema in schemas.values())
    return jsonschema.Draft4Validator(schemas["catalog"], registry=registry)


def test_data_json_validates_against_pod_1_1(bundled_client):
    response = bundled_client.get("/data.json")
    assert response.status_code == 200
    body = response.json
    errors = sorted(_pod_validator().iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert body["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"
    by_id = {d["identifier"].rsplit("/", 1)[-1]: d for d in body["dataset"]}
    assert by_id[OPEN]["accessLevel"] == "public" and by_id[OPEN]["distribution"][0]["downloadURL"]
    assert by_id[CONDITIONAL]["accessLevel"] == "restricted public" and by_id[CONDITIONAL]["rights"]
    assert all("downloadURL" not in d for d in by_id[CONDITIONAL]["distribution"])


@pytest.mark.parametrize("path", ["/catalog.jsonld", "/data.json", f"/datasets/{OPEN}/datapackage.json"])
def test_feeds_answer_304_to_a_harvester_that_has_them(bundled_client, path):
    first = bundled_client.get(path)
    assert first.headers["ETag"] and first.headers["Access-Control-Allow-Origin"] == "*"
    again = bundled_client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_pod_validator_catches_a_missing_field(bundled_client):
    body = bundled_client.get("/data.json").json
    del body["dataset"][0]["publisher"]
    assert any("publisher" in e.message for e in _pod_validator().iter_errors(body))


def test_datapackages_are_valid_frictionless_packages(bundled_client):
    from frictionless import Package

    for slug in bundled_client.get("/api/3/action/package_list").json["result"]:
        descriptor = bundled_client.get(f"/datasets/{slug}/datapackage.json").json
        errors = [e.message for e in Package.metadata_validate(descriptor)]
        assert not errors, (slug, errors[:3])
        fields = descriptor["resources"][0]["schema"]["fields"]
        assert fields and all(f["name"] and f["type"] for f in fields)


def test_conditional_datapackage_has_dictionary_but_no_data_url(bundled_client):
    descriptor = bundled_client.get(f"/datasets/{CONDITIONAL}/datapackage.json").json
    resource = descriptor["resources"][0]
    assert "path" not in resource and resource["data"] == [[f["name"] for f in resource["schema"]["fields"]]]
    assert "/download/" not in json.dumps(descriptor)
    assert any(f.get("kaifang", {}).get("sensitive") for f in resource["schema"]["fields"])


def test_open_datapackage_validates_with_its_served_rows(live_url):
    """frictionless fetches the CSV download and checks every row against the dictionary."""
    from frictionless import validate

    report = validate(f"{live_url}/datasets/{SMALL}/datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    assert report.tasks[0].stats["rows"] > 0


@pytest.fixture
def draft_app(tmp_path):
    """Two datasets of the health commission, one of them an unpublished draft, and a closed one."""
    from portal.catalog import publishing
    from portal.catalog.models import Dataset

    app = empty_app(tmp_path / "instance")
    with app.app_context(), session_scope(app) as session:
        for slug in (SMALL, CONDITIONAL, CLOSED):
            publishing.load_package(session, SYSTEM, DATASETS / slug, data_dir=Path(app.config["DATA_DIR"]))
        # No draft or closing workflow yet: set the states directly.
        session.query(Dataset).filter_by(slug=SMALL).update({"published": False})
        session.query(Dataset).filter_by(slug=CLOSED).update({"open_class": "closed", "closed_reason": "privacy"})
        session.commit()
    return app


def test_drafts_never_appear(draft_app):
    from portal.accounts import service

    with draft_app.app_context(), session_scope(draft_app) as session:
        service.create_user(session, SYSTEM, email="pub@example.org", password="publisher-pass-1",
                            role="publisher", department="health-commission")
        publisher = service.authenticate(session, "pub@example.org", "publisher-pass-1")
    client = draft_app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["user_id"] = publisher.user_id  # even the draft's own publisher gets the public feeds
    assert SMALL not in client.get("/catalog.jsonld").text
    assert SMALL not in client.get("/data.json").text
    assert client.get(f"/datasets/{SMALL}/datapackage.json").status_code == 404
    anonymous = draft_app.test_client()
    assert anonymous.get("/api/3/action/package_list").json["result"] == [CONDITIONAL, CLOSED]
    assert anonymous.get(f"/api/3/action/package_show?id={SMALL}").status_code == 404
    assert anonymous.get(f"/api/3/action/datastore_search?resource_id={SMALL}").status_code == 404
    found = anonymous.get("/api/3/action/package_search?q=smoking").json["result"]
    assert found["count"] == 0


def test_closed_data_is_listed_without_any_data(draft_app):
    client = draft_app.test_client()
    pod = next(d for d in client.get("/data.json").json["dataset"] if d["identifier"].endswith(CLOSED))
    assert pod["accessLevel"] == "non-public" and pod["distribution"] == [] and pod["rights"]
    dcat = next(d for d in client.get("/catalog.jsonld").json["dcat:dataset"] if d["dct:identifier"] == CLOSED)
    assert dcat["dct:accessRights"]["@id"].endswith("NON_PUBLIC") and dcat["dcat:distribution"] == []
    package = client.get(f"/api/3/action/package_show?id={CLOSED}").json["result"]
    assert package["resources"] == [] and {"key": "closed_reason", "value": "privacy"} in package["extras"]
    assert client.get(f"/api/3/action/datastore_search?resource_id={CLOSED}").status_code == 403
    resource = client.get(f"/datasets/{CLOSED}/datapackage.json").json["resources"][0]
    assert "path" not in resource and len(resource["data"]) == 1
