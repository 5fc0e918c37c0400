"""JSON sources: an array of objects, NDJSON (one object a line), or a GeoJSON FeatureCollection,
written out as CSV so that the common CSV path infers types.

Keys become columns in order of first appearance; nested objects and lists are kept as JSON
text. GeoJSON properties become columns; Point geometries give `longitude`/`latitude` columns,
any other geometry a `geometry` column holding its GeoJSON. NDJSON is streamed line by line;
an array or a FeatureCollection is one JSON value and is parsed whole.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from portal.store.delimited import check_names
from portal.store.encodings import open_bytes
from portal.store.errors import IngestError

GEOMETRY = "geometry"


def json_to_csv(source: Path, target: Path, encoding: str) -> tuple[tuple[str, ...], bool]:
    """Write `source` to `target` (UTF-8 CSV); return (header, whether it was GeoJSON).

    Raises:
        IngestError: `bad-json`, `empty-file`, `empty-column-name`, `duplicate-column`.
    """
    first = _first_char(source, encoding)
    if first == "":
        raise IngestError("empty-file", "the file is empty")
    if first == "[" or (first == "{" and _is_single_document(source, encoding)):
        records, geo = _records_of(_load(source, encoding))
        names = _names(iter(records))
        check_names(names)
        _write(names, records, target)
        return tuple(names), geo
    names = _names(_ndjson(source, encoding))
    check_names(names)
    _write(names, _ndjson(source, encoding), target)
    return tuple(names), False


def _first_char(source: Path, encoding: str) -> str:
    with open_bytes(source) as raw:
        head = raw.read(4096).decode(encoding, "replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _is_single_document(source: Path, encoding: str) -> bool:
    """An object spanning lines is one document (GeoJSON); one object a line is NDJSON."""
    with open_bytes(source) as raw:
        line = raw.readline().decode(encoding, "replace").strip().lstrip("\ufeff")
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return '"FeatureCollection"' in line


def _load(source: Path, encoding: str) -> object:
    with open_bytes(source) as raw:
        text = raw.read().decode(encoding).lstrip("\ufeff")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(
            "bad-json", f"line {exc.lineno} column {exc.colno}: {exc.msg}", line=exc.lineno,
            column=str(exc.colno),
        ) from exc


def _records_of(document: object) -> tuple[list[dict], bool]:
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise IngestError("bad-json", "a FeatureCollection needs a list of features")
        return [_feature(f, i) for i, f in enumerate(features, start=1)], True
    if isinstance(document, list) and all(isinstance(item, dict) for item in document):
        if not document:
            raise IngestError("empty-file", "the JSON array is empty")
        return document, False
    raise IngestError("bad-json", "expected an array of objects, NDJSON or a FeatureCollection")


def _feature(feature: object, number: int) -> dict:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise IngestError("bad-json", f"feature {number} is not a GeoJSON Feature")
    record = dict(feature.get("properties") or {})
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates") or [None, None]
        record["longitude"], record["latitude"] = coordinates[0], coordinates[1]
    elif geometry is not None:
        record[GEOMETRY] = json.dumps(geometry, ensure_ascii=False, separators=(",", ":"))
    return record


def _ndjson(source: Path, encoding: str) -> Iterator[dict]:
    with open_bytes(source) as raw:
        for number, line in enumerate(raw, start=1):
            text = line.decode(encoding).strip().lstrip("\ufeff")
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise IngestError(
                    "bad-json", f"line {number} column {exc.colno}: {exc.msg}", line=number,
                    column=str(exc.colno),
                ) from exc
            if not isinstance(record, dict):
                raise IngestError("bad-json", f"line {number} is not a JSON object", line=number)
            yield record


def _names(records: Iterator[dict]) -> list[str]:
    seen: dict[str, None] = {}
    count = 0
    for record in records:
        count += 1
        for key in record:
            seen.setdefault(str(key).strip(), None)
    if not count:
        raise IngestError("empty-file", "the file holds no records")
    return list(seen)


def _write(names: list[str], records, target: Path) -> None:
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for record in records:
            clean = {str(k).strip(): v for k, v in record.items()}
            writer.writerow([_text(clean.get(name)) for name in names])


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)
