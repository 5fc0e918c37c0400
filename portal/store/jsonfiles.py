"""JSON sources: an array of objects, NDJSON (one object a line), a GeoJSON FeatureCollection,
or a document wrapping its records (`{"code": 200, "data": {"list": [...]}}`, as saved from a
data API), written out as CSV so that the common CSV path infers types.

In a wrapping document the records are the array of objects that holds the most of them (found
in one streamed pass); the load report says where they were and which top-level keys were not
read. A document with no array of objects is one record.

Keys become columns in order of first appearance; nested objects and lists are kept as JSON
text. GeoJSON properties become columns; Point geometries give two columns, named by the
descriptor's `kaifang.coordinates` (docs/datasets.md; `longitude`/`latitude` when it names none),
any other geometry a `geometry` column holding its GeoJSON. A property with the name of a point
column is refused rather than overwritten. Everything is streamed, in two
passes (names, then rows), so memory stays flat whatever the file size: NDJSON line by line, an
array or a FeatureCollection's features item by item with ijson (its C backend). Numbers keep
the digits they were written with (`4.50` stays `4.50`) so that the common inference sees what
the publisher wrote. A syntax error is located by line and column when the file is small enough
to re-read with the standard parser (64 MB), else by ijson's byte position.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import ijson

from portal.store.delimited import check_names
from portal.store.encodings import open_bytes
from portal.store.errors import IngestError

GEOMETRY = "geometry"
POINT_COLUMNS = ("longitude", "latitude")
_RELOCATE_BYTES = 64 * 1024 * 1024
# How much of the first line tells NDJSON from one document. Minified GeoJSON is one line of the
# whole file: reading (and parsing) all of it here cost 1 GB for a 300 MB file.
_FIRST_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class JsonTable:
    """What `json_to_csv` wrote: the columns, whether it was GeoJSON, and, for a document wrapping
    its records, where they were (`data.list`), how many, and the top-level keys not read."""

    header: tuple[str, ...]
    geo: bool
    records_at: str | None = None
    records: int = 0
    left_out: tuple[str, ...] = ()


def json_to_csv(source: Path, target: Path, encoding: str, *,
                points: tuple[str, str] = POINT_COLUMNS) -> JsonTable:
    """Write `source` to `target` (UTF-8 CSV).
    `points` names the (longitude, latitude) columns of GeoJSON Point features.

    Raises:
        IngestError: `bad-json`, `empty-file`, `empty-column-name`, `duplicate-column`.
    """
    first = _first_char(source, encoding)
    if first == "":
        raise IngestError("empty-file", "the file is empty")
    if first == "[":
        return _write_records(source, target, "item", points)
    if first == "{" and _is_single_document(source, encoding):
        if _looks_like_geojson(source):
            return _write_records(source, target, "features.item", points, geo=True)
        document = _document(source)
        if document.type == "FeatureCollection":
            return _write_records(source, target, "features.item", points, geo=True)
        if document.records_at is None:  # no array of objects: the document is one record
            return _write_records(source, target, "", points)
        table = _write_records(source, target, f"{document.records_at}.item", points)
        left_out = tuple(k for k in document.keys if k != document.records_at.split(".")[0])
        return JsonTable(table.header, False, document.records_at, document.records, left_out)
    names = _names(_ndjson(source, encoding))
    check_names(names)
    _write(names, _ndjson(source, encoding), target)
    return JsonTable(tuple(names), False)


def _write_records(source: Path, target: Path, prefix: str, points: tuple[str, str], *, geo: bool = False) -> JsonTable:
    names = _names(_streamed(source, prefix, geo, points))
    check_names(names)
    _write(names, _streamed(source, prefix, geo, points), target)
    return JsonTable(tuple(names), geo)


_GEOJSON = re.compile(rb'"type"\s*:\s*"FeatureCollection"')


def _looks_like_geojson(source: Path) -> bool:
    """A FeatureCollection says so near its start: no pass over the whole file is needed."""
    with open_bytes(source) as raw:
        return bool(_GEOJSON.search(raw.read(65536)))


@dataclass(frozen=True)
class _Document:
    type: object
    keys: tuple[str, ...]
    records_at: str | None
    records: int


def _document(source: Path) -> _Document:
    """One streamed pass over a single JSON document: its top-level `type` and keys, and the
    array of objects holding the most of them (not nested in another array)."""
    kind, keys, counts = None, [], {}
    with _opened(source) as raw:
        try:
            for prefix, event, value in ijson.parse(raw):
                if prefix == "" and event == "map_key":
                    keys.append(value)
                elif prefix == "type" and event == "string":
                    kind = value
                elif event == "start_map" and prefix.endswith(".item"):
                    array = prefix[: -len(".item")]
                    if "item" not in array.split("."):
                        counts[array] = counts.get(array, 0) + 1
        except ijson.JSONError as exc:
            raise _syntax_error(source, exc) from exc
    if not counts:
        return _Document(kind, tuple(keys), None, 0)
    best = max(counts, key=lambda array: counts[array])  # the first of the largest on a tie
    return _Document(kind, tuple(keys), best, counts[best])


def _first_char(source: Path, encoding: str) -> str:
    with open_bytes(source) as raw:
        head = raw.read(4096).decode(encoding, "replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _is_single_document(source: Path, encoding: str) -> bool:
    """An object spanning lines is one document (GeoJSON); one object a line is NDJSON. A first
    line longer than `_FIRST_LINE_BYTES` is taken as one document (a minified FeatureCollection)
    without reading the rest of it."""
    with open_bytes(source) as raw:
        head = raw.readline(_FIRST_LINE_BYTES + 1)
        rest = raw.read(4096).strip()
    if len(head) > _FIRST_LINE_BYTES:
        return True
    line = head.decode(encoding, "replace").strip().lstrip("\ufeff")
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return '"FeatureCollection"' in line or not rest  # one object on one line and nothing after it


@contextmanager
def _opened(source: Path) -> Iterator[BinaryIO]:
    """The file's bytes after a UTF-8 byte order mark, if it has one."""
    with open_bytes(source) as raw:
        if raw.read(3) != b"\xef\xbb\xbf":
            raw.seek(0)
        yield raw


def _streamed(source: Path, prefix: str, geo: bool, points: tuple[str, str] = POINT_COLUMNS) -> Iterator[dict]:
    """The records at `prefix` (`item` of a top-level array, `data.list.item` of a wrapping
    document, `` for the document itself), or the features of a FeatureCollection, one by one."""
    with _opened(source) as raw:
        count = 0
        try:
            for count, item in enumerate(ijson.items(raw, prefix), 1):
                if geo:
                    yield _feature(item, count, points)
                elif isinstance(item, dict):
                    yield item
                else:
                    raise IngestError("bad-json", f"item {count} of the array is not an object")
        except ijson.JSONError as exc:
            raise _syntax_error(source, exc) from exc
    if count == 0:
        if geo:
            raise IngestError("bad-json", "expected a FeatureCollection with a list of features")
        raise IngestError("empty-file", "the JSON array is empty")


def _syntax_error(source: Path, exc: Exception) -> IngestError:
    """Where the JSON is broken: line and column from the standard parser for files it can hold."""
    if source.stat().st_size <= _RELOCATE_BYTES:
        with open_bytes(source) as raw:
            text = raw.read().decode("utf-8", "replace").lstrip("\ufeff")
        try:
            json.loads(text)
        except json.JSONDecodeError as found:
            return IngestError("bad-json", f"line {found.lineno} column {found.colno}: {found.msg}",
                               line=found.lineno, column=str(found.colno))
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return IngestError("bad-json", f"the JSON is broken: {first}")


def _feature(feature: object, number: int, points: tuple[str, str]) -> dict:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise IngestError("bad-json", f"feature {number} is not a GeoJSON Feature")
    properties = feature.get("properties")
    record = dict(properties) if isinstance(properties, dict) else {}
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        longitude, latitude = points
        for axis, name in (("longitude", longitude), ("latitude", latitude)):
            if name in record:
                raise IngestError(
                    "duplicate-column",
                    f"feature {number} has a property {name!r}, the name of the points' {axis} "
                    f"column; name the coordinate columns differently in kaifang.coordinates",
                    column=name)
        coordinates = geometry.get("coordinates") or [None, None]
        record[longitude], record[latitude] = coordinates[0], coordinates[1]
    elif geometry is not None:
        record[GEOMETRY] = _dumps(geometry)
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
        return _dumps(value)
    return str(value)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_number)


def _number(value: object) -> object:
    """ijson's Decimals inside nested values: integers stay integers, others become floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
