"""Fitness checks of the architecture: import-linter contracts (sandbox boundary, store purity,
layered domain packages: no import cycle between them)."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_CODE = {"templates", "static", "translations", "migrations"}


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is installed with the dev extra"
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken" in result.stdout


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def test_every_domain_package_has_a_layer():
    """A new package under portal/ must be placed in the layers contract, or a cycle through it
    would go unnoticed."""
    packages = {f"portal.{p.parent.name}" for p in (ROOT / "portal").glob("*/__init__.py")
                if p.parent.name not in NOT_CODE}
    assert sorted(packages - set(_layers())) == []
    assert len(_layers()) == len(set(_layers()))
