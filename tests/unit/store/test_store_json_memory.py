"""JSON arrays and GeoJSON are streamed: peak memory does not grow with the file's size.

Each run is a fresh interpreter reporting its own peak RSS, so the figures are not disturbed by
the test process; no timing is asserted. The JSON reading stage is measured on its own: DuckDB's
CSV-to-Parquet pass that follows has memory of its own that grows with the first row groups
whatever the source format (docs/performance.md), and is checked end to end elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROBE = """
import resource, sys
from pathlib import Path
from portal.store.jsonfiles import json_to_csv
target = Path(sys.argv[2])
json_to_csv(Path(sys.argv[1]), target, "utf-8")
rows = sum(1 for _ in target.open(encoding="utf-8")) - 1
print(rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _array(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[\n")
        for i in range(rows):
            record = {"编号": f"{i:08d}", "名称": f"站点{i}", "数值": i * 0.25, "标签": ["a", "b"],
                      "说明": "监测站点的说明文字" * 3}
            handle.write(("," if i else "") + json.dumps(record, ensure_ascii=False) + "\n")
        handle.write("]\n")
    return path


def _geojson(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"type": "FeatureCollection", "features": [\n')
        for i in range(rows):
            feature = {"type": "Feature", "properties": {"name": f"点{i}", "n": i, "note": "说明" * 20},
                       "geometry": {"type": "Point", "coordinates": [117.2 + i * 1e-6, 39.1]}}
            handle.write(("," if i else "") + json.dumps(feature, ensure_ascii=False) + "\n")
        handle.write("]}\n")
    return path


def _minified_geojson(path: Path, rows: int) -> Path:
    """One line for the whole file, as most GeoJSON exports write it."""
    _geojson(path, rows)
    path.write_text(path.read_text(encoding="utf-8").replace("\n", ""), encoding="utf-8")
    return path


def _minified_array(path: Path, rows: int) -> Path:
    _array(path, rows)
    path.write_text(path.read_text(encoding="utf-8").replace("\n", ""), encoding="utf-8")
    return path


def _peak(source: Path, dest: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(source), str(dest)], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.parametrize("make", [_array, _geojson, _minified_geojson, _minified_array],
                         ids=["array", "geojson", "minified-geojson", "minified-array"])
def test_peak_memory_is_flat_in_file_size(tmp_path, make):
    small = make(tmp_path / "small.json", 10_000)
    large = make(tmp_path / "large.json", 100_000)
    grown = large.stat().st_size - small.stat().st_size
    rows_small, peak_small = _peak(small, tmp_path / "small.csv")
    rows_large, peak_large = _peak(large, tmp_path / "large.csv")
    assert (rows_small, rows_large) == (10_000, 100_000)
    # Parsed whole, 10x the rows would cost several times the file's growth in Python objects;
    # streamed, the peak is the interpreter's plus one record (a few MB of allocator noise).
    assert peak_large - peak_small < grown * 0.2, (peak_small, peak_large, grown)
