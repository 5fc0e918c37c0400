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

from portal.analysis.disclosure import Rules
from portal.catalog.models import OPEN_CLASSES, UPDATE_FREQUENCIES
from portal.catalog.themes import THEME_CODES
from portal.errors import Invalid

DESCRIPTOR = "datapackage.json"

# Frictionless field types -> store column types (the descriptor's types override inference).
FRICTIONLESS_TYPES = {
    "integer": "integer", "number": "float", "string": "text", "boolean": "boolean",
    "date": "date", "datetime": "timestamp", "year": "integer",
}


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
    department: dict[str, str]
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
    coordinates: dict[str, str] | None
    disclosure: dict[str, Any] | None
    cluster_by: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    data_path: Path | None
    data_format: str | None
    encoding: str | None
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
        Invalid: the descriptor is not JSON or misses or misuses a property; `errors` names each.
    """
    raw = (folder / DESCRIPTOR).read_bytes()
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"{folder / DESCRIPTOR}: not valid JSON ({exc})", code="bad-descriptor") from exc
    errors: dict[str, list[str]] = {}
    ext = doc.get("kaifang") or {}
    _require(doc, ("name", "title", "resources"), errors)
    _require(ext, ("title_zh", "theme", "department", "open_class"), errors, prefix="kaifang.")
    if ext.get("theme") and ext["theme"] not in THEME_CODES:
        errors["kaifang.theme"] = [f"unknown theme {ext['theme']!r}"]
    if ext.get("open_class") and ext["open_class"] not in OPEN_CLASSES:
        errors["kaifang.open_class"] = [f"one of {', '.join(OPEN_CLASSES)}"]
    freq = ext.get("update_frequency") or "irregular"
    if freq not in UPDATE_FREQUENCIES:
        errors["kaifang.update_frequency"] = [f"one of {', '.join(UPDATE_FREQUENCIES)}"]
    resource = _tabular_resource(doc, errors)
    _check_constraints(resource, ext.get("open_class"), errors)
    _check_disclosure(ext.get("disclosure"), errors)
    if errors:
        raise Invalid(f"{folder / DESCRIPTOR} is not a valid dataset descriptor", code="bad-descriptor",
                      errors=errors)
    return _spec(folder, doc, ext, resource, freq, hashlib.sha256(raw).hexdigest())


def _require(doc: dict, keys: tuple[str, ...], errors: dict[str, list[str]], prefix: str = "") -> None:
    for key in keys:
        if not doc.get(key):
            errors[prefix + key] = ["required"]


def _tabular_resource(doc: dict, errors: dict[str, list[str]]) -> dict | None:
    resources = doc.get("resources") or []
    if not isinstance(resources, list) or not resources:
        errors.setdefault("resources", ["at least one resource"])
        return None
    resource = resources[0]
    if not isinstance(resource, dict) or not isinstance(resource.get("path"), str):
        errors["resources[0].path"] = ["a relative path to the data file"]
        return None
    if ".." in Path(resource["path"]).parts or Path(resource["path"]).is_absolute():
        errors["resources[0].path"] = ["must stay inside the dataset folder"]
    return resource


def _spec(folder: Path, doc: dict, ext: dict, resource: dict | None, freq: str, checksum: str) -> PackageSpec:
    licence = (doc.get("licenses") or [{}])[0]
    coverage = ext.get("temporal_coverage") or {}
    return PackageSpec(
        folder=folder, slug=doc["name"], title_en=doc["title"], title_zh=ext["title_zh"],
        description_en=doc.get("description", ""), description_zh=ext.get("description_zh", ""),
        keywords=tuple(doc.get("keywords") or ()), tags_zh=tuple(ext.get("tags_zh") or ()),
        theme=ext["theme"], department=ext["department"], open_class=ext["open_class"],
        closed_reason=ext.get("closed_reason"),
        licence={"name": licence.get("name", ""), "title": licence.get("title", ""),
                 "url": licence.get("path", "")},
        sources=list(doc.get("sources") or []), update_frequency=freq,
        temporal_start=_date(coverage.get("start")), temporal_end=_date(coverage.get("end")),
        spatial=ext.get("spatial_coverage") or {}, contact=ext.get("contact") or {},
        synthetic=bool(ext.get("synthetic")), coordinates=ext.get("coordinates"),
        disclosure=ext.get("disclosure"), cluster_by=tuple(ext.get("cluster_by") or ()),
        fields=field_specs(resource, ext.get("fields") or {}),
        data_path=folder / resource["path"] if resource else None,
        data_format=(resource or {}).get("format"), encoding=(resource or {}).get("encoding"),
        checksum=checksum,
    )


def field_specs(resource: dict | None, extra: dict[str, dict]) -> tuple[FieldSpec, ...]:
    """The fields of a resource's Table Schema, with the `kaifang.fields` flags (also read by
    offline runs from a sample package)."""
    declared = ((resource or {}).get("schema") or {}).get("fields") or []
    specs = []
    for field in declared:
        more = extra.get(field["name"], {})
        specs.append(FieldSpec(
            name=field["name"], type=FRICTIONLESS_TYPES.get(field.get("type", "")),
            description_en=field.get("description", ""), description_zh=more.get("description_zh", ""),
            unit=more.get("unit"), identifier=bool(more.get("identifier")),
            sensitive=bool(more.get("sensitive")),
            minimum=_number(field, "minimum"), maximum=_number(field, "maximum"), levels=_levels(field),
        ))
    return tuple(specs)


def _check_disclosure(disclosure: Any, errors: dict[str, list[str]]) -> None:
    """`kaifang.disclosure` (settings of disclosure control and the ε mode) is checked when the
    descriptor is read, so a bad value is refused at load, not when an analyst runs code."""
    if disclosure is None:
        return
    try:
        if not isinstance(disclosure, dict):
            raise ValueError("an object of settings (docs/disclosure.md)")
        Rules.with_overrides(disclosure)
    except (TypeError, ValueError) as exc:
        errors["kaifang.disclosure"] = [str(exc)]


NUMERIC_TYPES = frozenset({"integer", "number", "year"})


def _check_constraints(resource: dict | None, open_class: str | None, errors: dict[str, list[str]]) -> None:
    """Bounds and levels are public metadata that disclosure control computes with, so they must
    be well-formed; a conditional dataset must bound every numeric field (docs/disclosure.md)."""
    declared = ((resource or {}).get("schema") or {}).get("fields") or []
    for field in declared:
        name = field.get("name")
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


def _levels(field: dict) -> tuple[str, ...] | None:
    enum = (field.get("constraints") or {}).get("enum") if isinstance(field.get("constraints"), dict) else None
    return tuple(enum) if isinstance(enum, list) and enum else None


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
