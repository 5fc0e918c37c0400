"""Byte-reproducible writers for a dataset folder: the data file and its `datapackage.json`.

Running a generator twice must give identical bytes (the files are committed and reviewed as
diffs), so gzip is written with mtime=0 and no file name, JSON with a fixed layout, and
cells are formatted by one function. Rows arrive as dicts keyed by the spec's field names; this
module does not know where they came from.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from descriptor import Spec, render


def cell(value: object) -> str:
    """The CSV text of one value: empty for missing, lowercase booleans, `repr` for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_dataset(spec: Spec, rows, out_dir: Path) -> int:
    """Write `<out_dir>/<slug>/` (data file + descriptor) and return the number of rows."""
    folder = out_dir / spec.slug
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.is_file() and stale.name != "datapackage.json" and stale.name != spec.filename:
            stale.unlink()
    names = [f.name for f in spec.fields]
    records = [_ordered(row, names, spec.slug) for row in rows]
    data = _encode(spec, names, records)
    (folder / spec.filename).write_bytes(data)
    write_descriptor(spec, out_dir)
    return len(records)


def write_descriptor(spec: Spec, out_dir: Path) -> Path:
    """Write only `datapackage.json` (used when just the metadata changed)."""
    path = out_dir / spec.slug / "datapackage.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(render(spec), ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _ordered(row: dict, names: list[str], slug: str) -> dict:
    if set(row) != set(names):
        raise ValueError(f"{slug}: row keys {sorted(row)} differ from schema {names}")
    return {name: row[name] for name in names}


def _encode(spec: Spec, names: list[str], records: list[dict]) -> bytes:
    if spec.fmt in ("csv", "csv.gz"):
        data = _csv_text(names, records).encode(spec.encoding)
        return gzip_bytes(data) if spec.fmt == "csv.gz" else data
    if spec.fmt == "json":
        return _json_lines_array(records).encode(spec.encoding)
    if spec.fmt == "geojson":
        return _geojson_text(spec, records).encode(spec.encoding)
    raise ValueError(f"{spec.slug}: unknown format {spec.fmt}")


def gzip_bytes(data: bytes) -> bytes:
    """Gzip with a fixed header (mtime 0, no file name) so equal input gives equal output."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


def _csv_text(names: list[str], records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for record in records:
        writer.writerow([cell(record[name]) for name in names])
    return buffer.getvalue()


def _json_lines_array(records: list[dict]) -> str:
    # One object per line: valid JSON that still diffs line by line.
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def _geojson_text(spec: Spec, records: list[dict]) -> str:
    """A FeatureCollection of Points; every non-coordinate field becomes a property.

    This is the flattening contract the store relies on: one feature = one row, the
    `kaifang.coordinates` fields come from `geometry.coordinates[0:2]`.
    """
    if spec.coordinates is None:
        raise ValueError(f"{spec.slug}: GeoJSON needs coordinates")
    lon, lat = spec.coordinates
    features = []
    for record in records:
        props = {k: v for k, v in record.items() if k not in (lon, lat)}
        geometry = {"type": "Point", "coordinates": [record[lon], record[lat]]}
        features.append(json.dumps({"type": "Feature", "properties": props, "geometry": geometry},
                                   ensure_ascii=False, separators=(",", ":")))
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"
