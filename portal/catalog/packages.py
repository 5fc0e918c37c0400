"""Reading a dataset folder: `datapackage.json` (Frictionless Data Package) plus our `kaifang` object.

This module only parses and checks a descriptor into a `PackageSpec`; it writes nothing. The
format is documented in `docs/datasets.md`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from portal.catalog.descriptors import SLUG, Checker, DepartmentRef
from portal.catalog.disclosure_settings import Rules, person_field_problem
from portal.catalog.models import OPEN_CLASSES
from portal.errors import Invalid

DESCRIPTOR = "datapackage.json"

# Frictionless field types -> store column types (the descriptor's types override inference).
FRICTIONLESS_TYPES = {
    "integer": "integer", "number": "float", "string": "text", "boolean": "boolean",
    "date": "date", "datetime": "timestamp", "year": "integer",
}

# Other Frictionless types: accepted, and left to inference.
_OTHER_TYPES = frozenset({"any", "time", "yearmonth", "object", "array", "geopoint", "geojson",
                          "duration"})


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str | None
    description_en: str
    description_zh: str
    unit: str | None
    identifier: bool
    sensitive: bool
    minimum: float | None = None  # Table Schema `constraints.minimum` / `maximum`: public bounds
    maximum: float | None = None
    levels: tuple | None = None  # `constraints.enum`: the declared category levels
    aggregates: tuple[str, ...] = ()  # `kaifang.fields.<name>.aggregates`: values marking aggregate rows
    # `constraints.required`: the publisher's word that no record lacks a value. Disclosure control
    # reads it instead of the data (decision 0028e); a wrong word biases means, discloses nothing.
    required: bool = False

    @property
    def bounds(self) -> tuple[float, float] | None:
        return None if self.minimum is None or self.maximum is None else (self.minimum, self.maximum)


@dataclass(frozen=True)
class PackageSpec:
    folder: Path
    slug: str
    title_en: str
    title_zh: str
    description_en: str
    description_zh: str
    keywords: tuple[str, ...]
    tags_zh: tuple[str, ...]
    theme: str
    department: DepartmentRef
    open_class: str
    closed_reason: str | None
    licence: dict[str, str]
    sources: list[dict[str, Any]]
    update_frequency: str
    temporal_start: date | None
    temporal_end: date | None
    spatial: dict[str, str]
    contact: dict[str, str]
    synthetic: bool
    demo_sample: bool  # sample data republished by a demo instance, not published by it
    coordinates: dict[str, str] | None
    disclosure: dict[str, Any] | None
    cluster_by: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    data_path: Path | None
    data_format: str | None
    encoding: str | None
    sheet: str | int | None
    checksum: str

    @property
    def overrides(self) -> dict[str, str]:
        return {f.name: f.type for f in self.fields if f.type}


def is_package(folder: Path) -> bool:
    return (folder / DESCRIPTOR).is_file() and not folder.name.startswith(("_", "."))


def find_packages(path: Path) -> list[Path]:
    """The dataset folders at `path`: itself if it is one, else its direct sub-folders that are."""
    if is_package(path):
        return [path]
    if not path.is_dir():
        raise Invalid(f"{path} is neither a dataset folder nor a folder of them", code="not-a-package")
    return sorted(p for p in path.iterdir() if p.is_dir() and is_package(p))


def read_package(folder: Path) -> PackageSpec:
    """Parse and check one descriptor.

    Raises:
        Invalid: the descriptor is not JSON or misses or misuses a property; `errors` names
            each field (`kaifang.department`, `resources[0].path`, ...) with what is wrong.
    """
    path = folder / DESCRIPTOR
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"{path}: not valid JSON ({exc})", code="bad-descriptor") from exc
    check = Checker()
    if not isinstance(doc, dict):
        check.add("(descriptor)", "must be a JSON object")
        spec = None
    else:
        spec = _spec(folder, doc, check, hashlib.sha256(raw).hexdigest())
    if check.errors or spec is None:
        first, messages = next(iter(check.errors.items()))
        raise Invalid(f"{path} is not a valid dataset descriptor: {first}: {messages[0]}",
                      code="bad-descriptor", errors=check.errors)
    return spec


def _spec(folder: Path, doc: dict, check: Checker, checksum: str) -> PackageSpec | None:
    ext = check.mapping(doc, "kaifang", "kaifang", required=True)
    resource = _tabular_resource(doc, check)
    licences = check.objects(doc, "licenses", "licenses")
    licence = licences[0] if licences else {}
    coverage = check.mapping(ext, "temporal_coverage", "kaifang.temporal_coverage")
    spec = dict(
        folder=folder, slug=_slug(doc, check), title_en=check.text(doc, "title", "title", required=True),
        title_zh=check.text(ext, "title_zh", "kaifang.title_zh", required=True),
        description_en=check.text(doc, "description", "description"),
        description_zh=check.text(ext, "description_zh", "kaifang.description_zh"),
        keywords=check.strings(doc, "keywords", "keywords"),
        tags_zh=check.strings(ext, "tags_zh", "kaifang.tags_zh"),
        theme=check.theme(ext.get("theme"), "kaifang.theme"),
        department=check.department(ext.get("department"), "kaifang.department"),
        open_class=_open_class(ext, check),
        closed_reason=check.optional_text(ext, "closed_reason", "kaifang.closed_reason"),
        licence={"name": check.text(licence, "name", "licenses[0].name"),
                 "title": check.text(licence, "title", "licenses[0].title"),
                 "url": check.text(licence, "path", "licenses[0].path")},
        sources=check.objects(doc, "sources", "sources"),
        update_frequency=check.frequency(ext.get("update_frequency"), "kaifang.update_frequency"),
        temporal_start=_coverage_date(coverage, "start", check),
        temporal_end=_coverage_date(coverage, "end", check),
        spatial=_text_map(ext, "spatial_coverage", check), contact=_text_map(ext, "contact", check),
        synthetic=check.flag(ext, "synthetic", "kaifang.synthetic"),
        demo_sample=check.flag(ext, "demo_sample", "kaifang.demo_sample"),
        coordinates=_text_map(ext, "coordinates", check) or None,
        disclosure=check.mapping(ext, "disclosure", "kaifang.disclosure") or None,
        cluster_by=check.strings(ext, "cluster_by", "kaifang.cluster_by"),
        fields=_fields(resource, check.mapping(ext, "fields", "kaifang.fields"), check),
        data_path=folder / resource["path"] if resource else None,
        data_format=check.optional_text(resource or {}, "format", "resources[0].format"),
        encoding=check.optional_text(resource or {}, "encoding", "resources[0].encoding"),
        sheet=_sheet(resource or {}, check), checksum=checksum,
    )
    if spec["open_class"] == "closed" and not spec["closed_reason"]:
        check.add("kaifang.closed_reason", "required when open_class is closed: say why the data are not open")
    elif spec["closed_reason"] and spec["open_class"] in ("open", "conditional"):
        check.add("kaifang.closed_reason", f"only a closed dataset has one (open_class is {spec['open_class']})")
    if spec["temporal_start"] and spec["temporal_end"] and spec["temporal_start"] > spec["temporal_end"]:
        check.add("kaifang.temporal_coverage.end", "ends before it starts")
    _check_constraints(resource, spec["open_class"], check.errors)
    _check_disclosure(spec["disclosure"], {f.name: f.identifier for f in spec["fields"]}, check.errors)
    return None if check.errors else PackageSpec(**spec)


def _slug(doc: dict, check: Checker) -> str:
    slug = check.text(doc, "name", "name", required=True)
    if slug and not SLUG.match(slug):
        check.add("name", f"{slug!r} is not a slug (lowercase letters, digits and dashes)")
    return slug


def _open_class(ext: dict, check: Checker) -> str:
    value = check.text(ext, "open_class", "kaifang.open_class", required=True)
    if value and value not in OPEN_CLASSES:
        check.add("kaifang.open_class", f"one of {', '.join(OPEN_CLASSES)}")
    return value


def _text_map(ext: dict, key: str, check: Checker) -> dict[str, str]:
    value = check.mapping(ext, key, f"kaifang.{key}")
    for name, item in value.items():
        if item is not None and not isinstance(item, str):
            check.add(f"kaifang.{key}.{name}", "must be text")
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _tabular_resource(doc: dict, check: Checker) -> dict | None:
    resources = doc.get("resources")
    if not isinstance(resources, list) or not resources:
        check.add("resources", "required: a list with at least one resource")
        return None
    resource = resources[0]
    if not isinstance(resource, dict) or not isinstance(resource.get("path"), str) \
            or not resource["path"]:
        check.add("resources[0].path", "a relative path to the data file")
        return None
    if ".." in Path(resource["path"]).parts or Path(resource["path"]).is_absolute():
        check.add("resources[0].path", "must stay inside the dataset folder")
        return None
    return resource


def _sheet(resource: dict, check: Checker) -> str | int | None:
    """The spreadsheet sheet to read: `sheet` or `dialect.sheet`, a name or a 1-based index."""
    dialect = resource.get("dialect") if isinstance(resource.get("dialect"), dict) else {}
    value = resource.get("sheet", dialect.get("sheet"))
    if value is None or (isinstance(value, str) and value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    check.add("resources[0].sheet", "a sheet name or its number (1 is the first sheet)")
    return None


def field_specs(resource: dict | None, extra: dict[str, dict]) -> tuple[FieldSpec, ...]:
    """The fields of a resource's Table Schema, with the `kaifang.fields` flags (also read by
    offline runs from a sample package, which the portal wrote and so need not be re-checked)."""
    return _fields(resource, extra, Checker())


def _fields(resource: dict | None, extra: dict, check: Checker) -> tuple[FieldSpec, ...]:
    for name in extra:  # `{"代码": "code"}` would otherwise be dropped unread
        check.mapping(extra, name, f"kaifang.fields.{name}")
    schema = check.mapping(resource or {}, "schema", "resources[0].schema")
    specs = []
    for i, field in enumerate(check.objects(schema, "fields", "resources[0].schema.fields")):
        path = f"resources[0].schema.fields[{i}]"
        name = check.text(field, "name", f"{path}.name", required=True)
        kind = check.text(field, "type", f"{path}.type")
        if kind and kind not in FRICTIONLESS_TYPES and kind not in _OTHER_TYPES:
            check.add(f"{path}.type", f"one of {', '.join(FRICTIONLESS_TYPES)}")
        more = extra.get(name) if isinstance(extra.get(name), dict) else {}
        where = f"kaifang.fields.{name}"
        specs.append(FieldSpec(
            name=name, type=FRICTIONLESS_TYPES.get(kind),
            description_en=check.text(field, "description", f"{path}.description"),
            description_zh=check.text(more, "description_zh", f"{where}.description_zh"),
            unit=check.optional_text(more, "unit", f"{where}.unit"),
            identifier=check.flag(more, "identifier", f"{where}.identifier"),
            sensitive=check.flag(more, "sensitive", f"{where}.sensitive"),
            minimum=_number(field, "minimum"), maximum=_number(field, "maximum"), levels=_levels(field),
            aggregates=check.strings(more, "aggregates", f"{where}.aggregates"),
            required=_required(field),
        ))
    return tuple(specs)


def _check_disclosure(disclosure: Any, field_names: dict[str, bool], errors: dict[str, list[str]]) -> None:
    """`kaifang.disclosure` (settings of disclosure control and the ε mode) is checked when the
    descriptor is read, so a bad value is refused at load, not when an analyst runs code. (A
    descriptor without a schema has its fields inferred later: its `person` is checked by the
    store, which refuses every plan of a table without that column.) `field_names` maps each
    declared field to its `identifier` flag."""
    if disclosure is None:
        return
    try:
        if not isinstance(disclosure, dict):
            raise ValueError("an object of settings (docs/disclosure.md)")
        Rules.with_overrides(disclosure)
        problem = person_field_problem(disclosure, field_names) if field_names else None
        if problem:
            raise ValueError(problem)
    except (TypeError, ValueError) as exc:
        errors["kaifang.disclosure"] = [str(exc)]


NUMERIC_TYPES = frozenset({"integer", "number", "year"})


def _check_constraints(resource: dict | None, open_class: str | None, errors: dict[str, list[str]]) -> None:
    """Types, bounds and levels are public metadata that disclosure control computes with, so they
    must be well-formed; a conditional dataset must type every field and bound every numeric one
    (docs/disclosure.md)."""
    schema = (resource or {}).get("schema")
    declared = schema.get("fields") if isinstance(schema, dict) else None
    for field in declared if isinstance(declared, list) else []:
        if not isinstance(field, dict):
            continue  # reported by _fields
        name = field.get("name")
        if open_class == "conditional" and not field.get("type"):
            # Inferred, a type is a fact of the records: one household of 3.5 people made a size
            # column `float` in the schema, which anyone granted reads for free (decision 0028e).
            errors[f"resources[0].schema.fields[{name}].type"] = [
                "a field of conditional data declares its type (an inferred one would be read from the records)"]
        problems = _constraint_problems(field)
        unbounded = field.get("type") in NUMERIC_TYPES and None in (_number(field, "minimum"), _number(field, "maximum"))
        if open_class == "conditional" and unbounded and not problems:
            problems.append("a numeric field of conditional data needs public bounds: "
                            "constraints.minimum and constraints.maximum")
        if problems:
            errors[f"resources[0].schema.fields[{name}].constraints"] = problems


def _constraint_problems(field: dict) -> list[str]:
    constraints = field.get("constraints") or {}
    if not isinstance(constraints, dict):
        return ["an object"]
    problems = []
    low, high = constraints.get("minimum"), constraints.get("maximum")
    for key, value in (("minimum", low), ("maximum", high)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or abs(value) > MAX_BOUND):
            problems.append(f"{key} must be a finite number within +-{MAX_BOUND:.0e}")
        elif value is not None and field.get("type") == "integer" and not float(value).is_integer():
            problems.append(f"{key} of an integer field must be a whole number")
    if not problems and low is not None and high is not None and low > high:
        problems.append("minimum is above maximum")
    if "required" in constraints and not isinstance(constraints["required"], bool):
        problems.append("required must be true or false")
    enum = constraints.get("enum")
    if enum is not None and (not isinstance(enum, list) or not enum or len(set(map(str, enum))) != len(enum)):
        problems.append("enum must be a non-empty list of distinct values")
    return problems


# Bounds beyond this are no bounds: a sum of 10^9 such values would leave the exact range of DOUBLE.
MAX_BOUND = 1e15


def _number(field: dict, key: str) -> float | None:
    value = (field.get("constraints") or {}).get(key) if isinstance(field.get("constraints"), dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _required(field: dict) -> bool:
    constraints = field.get("constraints")
    return isinstance(constraints, dict) and constraints.get("required") is True


def _levels(field: dict) -> tuple[str, ...] | None:
    enum = (field.get("constraints") or {}).get("enum") if isinstance(field.get("constraints"), dict) else None
    return tuple(enum) if isinstance(enum, list) and enum else None


def _coverage_date(coverage: dict, key: str, check: Checker) -> date | None:
    """`kaifang.temporal_coverage.start`/`.end`: an ISO date (a timestamp's date part is read) or
    null; anything else is named, not silently dropped."""
    value = coverage.get(key)
    found = _date(value)
    if value not in (None, "") and found is None:
        check.add(f"kaifang.temporal_coverage.{key}", f"must be an ISO date (2023-01-31) or null, not {value!r}")
    return found


def _date(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class SamplePackage:
    """A synthetic sample's Data Package (written by `catalog/samples.py`), as an offline run
    reads it: the rows file, the data dictionary's flags, and the declared disclosure settings."""

    slug: str
    rows: Path
    conditional: bool
    identifiers: frozenset[str]
    sensitive: frozenset[str]
    types: tuple[tuple[str, str], ...]
    disclosure: dict | None
    fields: tuple[FieldSpec, ...]


def read_sample(folder: Path) -> SamplePackage:
    """Read a sample package's descriptor. The portal wrote it, so it is not checked as a
    publisher's descriptor is (`read_package`); its fields go through the same Table Schema
    reading (`field_specs`)."""
    doc = json.loads((folder / DESCRIPTOR).read_text(encoding="utf-8"))
    ext = doc.get("kaifang") or {}
    flags = ext.get("fields") or {}
    resource = (doc.get("resources") or [{}])[0]
    schema = (resource.get("schema") or {}).get("fields") or []
    return SamplePackage(
        slug=doc["name"], rows=folder / resource["path"], conditional=ext.get("open_class") == "conditional",
        identifiers=frozenset(n for n, f in flags.items() if f.get("identifier")),
        sensitive=frozenset(n for n, f in flags.items() if f.get("sensitive")),
        types=tuple((f["name"], FRICTIONLESS_TYPES[f["type"]]) for f in schema if f.get("type") in FRICTIONLESS_TYPES),
        disclosure=ext.get("disclosure"), fields=field_specs(resource, flags),
    )
