"""The bundled datasets: descriptors validate, the `kaifang` extension is complete and consistent,
the catalog meets its size/coverage targets, and the synthetic generator is deterministic."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from frictionless import Package, Resource, Schema

ROOT = Path(__file__).resolve().parents[3]
DATASETS = ROOT / "datasets"
FOLDERS = sorted(p.parent for p in DATASETS.glob("*/datapackage.json") if not p.parent.name.startswith("_"))
THEMES = {
    "economy", "environment", "transport", "health", "education", "employment", "housing",
    "public-safety", "culture", "agriculture", "weather", "geospatial", "credit", "finance",
    "commerce", "market-regulation", "work-safety", "organisations", "life-services",
    "social-development", "legal-services",
}
FREQUENCIES = {"static", "annual", "quarterly", "monthly", "weekly", "daily", "realtime", "irregular"}
KAIFANG_KEYS = {
    "title_zh", "description_zh", "tags_zh", "theme", "department", "open_class", "closed_reason",
    "update_frequency", "temporal_coverage", "spatial_coverage", "contact", "synthetic",
    "coordinates", "fields",
}
OPTIONAL_KAIFANG_KEYS = {"cluster_by", "disclosure", "demo_sample"}  # row layout; disclosure; sample of a demo
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CJK = re.compile(r"[\u4e00-\u9fff]")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def load(folder: Path) -> dict:
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def resource_of(folder: Path) -> dict:
    return load(folder)["resources"][0]


def data_text(folder: Path) -> str:
    resource = resource_of(folder)
    raw = (folder / resource["path"]).read_bytes()
    if resource.get("compression") == "gz":
        raw = gzip.decompress(raw)
    return raw.decode(resource["encoding"])


def row_count(folder: Path) -> int:
    resource = resource_of(folder)
    text = data_text(folder)
    if resource["format"] == "csv":
        return sum(1 for _ in csv.reader(io.StringIO(text))) - 1
    if resource["format"] == "geojson":
        return len(json.loads(text)["features"])
    return len(json.loads(text))


def quietly(validate):
    """Run a Frictionless validation and collect what it leaves open.

    With `limit_rows` Frictionless stops reading mid-file and leaves the file to the garbage
    collector, whose ResourceWarning would fail an unrelated later test under
    `filterwarnings = error`; the warning is about the library, not the data.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        report = validate()
        gc.collect()
    return report


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict]:
    return {folder.name: load(folder) for folder in FOLDERS}


def test_there_are_datasets_and_no_stray_folders():
    folders = {p.name for p in DATASETS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders == {f.name for f in FOLDERS}
    assert len(FOLDERS) >= 24


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_folder_holds_descriptor_and_exactly_one_data_file(folder):
    descriptor = load(folder)
    assert SLUG.match(folder.name) and descriptor["name"] == folder.name
    assert len(descriptor["resources"]) == 1
    assert {p.name for p in folder.iterdir()} == {"datapackage.json", descriptor["resources"][0]["path"]}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_frictionless_validates_metadata_and_first_rows(folder):
    report = quietly(lambda: Package(str(folder / "datapackage.json")).validate(limit_rows=2000))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


@pytest.mark.parametrize("folder", [f for f in FOLDERS if resource_of(f)["format"] == "geojson"],
                         ids=lambda p: p.name)
def test_geojson_features_flatten_to_the_schema(folder):
    """Frictionless has no GeoJSON table reader, so the rows are checked through the flattening
    contract: one Point feature per row, properties + the `kaifang.coordinates` fields."""
    descriptor = load(folder)
    coords = descriptor["kaifang"]["coordinates"]
    names = [f["name"] for f in resource_of(folder)["schema"]["fields"]]
    rows = [names]
    for feature in json.loads(data_text(folder))["features"][:2000]:
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"][:2]
        props = dict(feature["properties"], **{coords["longitude"]: lon, coords["latitude"]: lat})
        assert set(props) == set(names)
        rows.append([props[n] for n in names])
    schema = Schema.from_descriptor(resource_of(folder)["schema"])
    report = quietly(Resource(data=rows, schema=schema).validate)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_kaifang_extension_is_complete(folder):
    descriptor = load(folder)
    k = descriptor["kaifang"]
    assert KAIFANG_KEYS <= set(k) <= KAIFANG_KEYS | OPTIONAL_KAIFANG_KEYS
    names = {f["name"] for f in resource_of(folder)["schema"]["fields"]}
    assert set(k.get("cluster_by", ())) <= names
    assert CJK.search(k["title_zh"]) and CJK.search(k["description_zh"]) and k["tags_zh"]
    assert k["theme"] in THEMES
    assert set(k["department"]) == {"slug", "name_zh", "name_en"} and SLUG.match(k["department"]["slug"])
    assert k["open_class"] in {"open", "conditional", "closed"}
    assert (k["closed_reason"] is not None) == (k["open_class"] == "closed")
    assert k["update_frequency"] in FREQUENCIES
    assert k["spatial_coverage"]["en"] and CJK.search(k["spatial_coverage"]["zh"])
    assert k["contact"]["name"] and "@" in k["contact"]["email"]
    assert isinstance(k["synthetic"], bool)
    assert descriptor["licenses"] and all(lic["name"] for lic in descriptor["licenses"])
    assert descriptor["sources"] and all(src["title"] for src in descriptor["sources"])


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_temporal_coverage_and_coordinates_are_consistent(folder):
    k = load(folder)["kaifang"]
    schema = {f["name"]: f["type"] for f in resource_of(folder)["schema"]["fields"]}
    if k["temporal_coverage"] is not None:
        start, end = k["temporal_coverage"]["start"], k["temporal_coverage"]["end"]
        assert ISO_DATE.match(start) and ISO_DATE.match(end) and start <= end
    if k["coordinates"] is not None:
        assert set(k["coordinates"]) == {"longitude", "latitude"}
        assert all(schema[name] == "number" for name in k["coordinates"].values())
    elif resource_of(folder)["format"] == "geojson":
        pytest.fail("a GeoJSON dataset must name its coordinate fields")


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_field_metadata_covers_the_schema(folder):
    descriptor = load(folder)
    schema = resource_of(folder)["schema"]["fields"]
    fields = descriptor["kaifang"]["fields"]
    assert list(fields) == [f["name"] for f in schema]
    for spec in schema:
        meta = fields[spec["name"]]
        assert {"description_zh", "unit", "identifier", "sensitive"} <= set(meta)
        assert set(meta) <= {"description_zh", "unit", "identifier", "sensitive", "aggregates"}
        if "aggregates" in meta:  # values of rows that sum others (kept out of charts)
            assert meta["aggregates"] and all(isinstance(v, str) for v in meta["aggregates"])
        assert CJK.search(meta["description_zh"]) and spec["description"]
        assert isinstance(meta["identifier"], bool) and isinstance(meta["sensitive"], bool)
        if meta["sensitive"]:
            assert spec["type"] in {"integer", "number"}, "sensitive fields are the measures"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_flags_and_open_class_fit_together(folder):
    """Identifier/sensitive flags only make sense where access is restricted, and everything
    restricted here is synthetic and says so in both languages."""
    descriptor = load(folder)
    k = descriptor["kaifang"]
    flags = [(m["identifier"], m["sensitive"]) for m in k["fields"].values()]
    if k["open_class"] == "open":
        assert not any(i or s for i, s in flags)
    if k["open_class"] == "conditional":
        assert k["synthetic"] is True
        assert any(i for i, _ in flags) and any(s for _, s in flags)
    if k["synthetic"]:
        assert "synthetic" in descriptor["title"].lower() and "合成数据" in k["title_zh"]
        assert "SYNTHETIC" in descriptor["description"] and "合成数据" in k["description_zh"]


def test_departments_are_a_consistent_shared_set(catalog):
    names = {}
    for descriptor in catalog.values():
        department = descriptor["kaifang"]["department"]
        names.setdefault(department["slug"], set()).add((department["name_zh"], department["name_en"]))
    assert all(len(variants) == 1 for variants in names.values()), names
    assert 10 <= len(names) <= 30


def test_real_data_names_its_real_publisher_as_a_demo_sample(catalog):
    """No city bureau appears to publish New York flights (issue 13, item 8): real data is
    published under its real publisher and marked as sample data of the demo instance; only the
    invented (synthetic) datasets belong to the city's own departments."""
    for slug, descriptor in catalog.items():
        k = descriptor["kaifang"]
        assert k.get("demo_sample") is True, slug
        municipal = k["department"]["name_en"].startswith("Municipal") or k["department"]["name_zh"].startswith("市")
        assert municipal == k["synthetic"], (slug, k["department"])
    assert catalog["nyc-flights-2013"]["kaifang"]["department"]["name_en"] == "US Bureau of Transportation Statistics"
    assert catalog["china-township-divisions-2023"]["kaifang"]["department"]["name_zh"] == "国家统计局"


def test_catalog_meets_coverage_targets(catalog):
    real = {slug: d for slug, d in catalog.items() if not d["kaifang"]["synthetic"]}
    assert len(real) >= 20
    assert len({d["kaifang"]["theme"] for d in real.values()}) >= 12
    synthetic = [slug for slug, d in catalog.items()
                 if d["kaifang"]["synthetic"] and d["kaifang"]["open_class"] == "conditional"]
    assert len(synthetic) >= 2
    assert all(row_count(DATASETS / slug) >= 100_000 for slug in synthetic)


def test_required_formats_are_present(catalog):
    formats = {(r["format"], r.get("compression")) for d in catalog.values() for r in d["resources"]}
    assert {("csv", None), ("csv", "gz"), ("json", None), ("geojson", None)} <= formats
    flights = DATASETS / "nyc-flights-2013"
    assert resource_of(flights)["path"].endswith(".csv.gz") and row_count(flights) == 336_776


def test_gb18030_dataset_is_really_gb18030(catalog):
    slugs = [s for s, d in catalog.items() if d["resources"][0]["encoding"] == "gb18030"]
    assert slugs
    for slug in slugs:
        raw = (DATASETS / slug / resource_of(DATASETS / slug)["path"]).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert CJK.search(raw.decode("gb18030"))


def test_datasets_folder_stays_small():
    total = sum(p.stat().st_size for p in DATASETS.rglob("*") if p.is_file())
    assert total < 60 * 1024 * 1024


def _synthesize(out: Path, rows: int, seed: int | None = None) -> dict[str, bytes]:
    command = [sys.executable, str(DATASETS / "_tools" / "synthesize.py"), "--rows", str(rows),
               "--out", str(out)]
    if seed is not None:
        command += ["--seed", str(seed)]
    subprocess.run(command, check=True, capture_output=True)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_synthesize_is_byte_reproducible(tmp_path):
    first = _synthesize(tmp_path / "a", rows=400)
    second = _synthesize(tmp_path / "b", rows=400)
    assert first == second
    assert len(first) == 4
    visits = gzip.decompress(first["clinic-visits-synthetic/visits.csv.gz"]).decode("utf-8")
    assert len(visits.splitlines()) == 401
    other_seed = _synthesize(tmp_path / "c", rows=400, seed=7)
    assert other_seed["clinic-visits-synthetic/visits.csv.gz"] != first["clinic-visits-synthetic/visits.csv.gz"]
