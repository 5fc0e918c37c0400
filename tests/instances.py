"""Instances loaded once per test run and copied for each app that needs one like them.

Loading a package (its Parquet, its record keys under the instance's disclosure key, an ordered
copy per column, decision 0027c) is most of an app's set-up: nyc-flights-2013 alone took 14-15 s
at load 6 on the two-core test machine, and every module of session tests loaded it again for an
app of its own; a red-team world of 301 people took 1.5-5 s, and a round builds a dozen worlds. A copy of the loaded instance folder (the SQLite database, the data files, the key files
and the search index, byte for byte) takes about 0.1 s, and the app made over it is a new app
with its own engine, pool and caches: a test sees what the freshly loaded instance would show,
and writes to its copy only.

Under pytest-xdist the workers of one run share the loaded folders (`share_between_workers`,
called by tests/conftest.py): the first worker to need one loads it under a file lock, the other
waits and copies it, instead of loading the same datasets again on the other core.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from portal.catalog.counters import flush_all
from portal.db import database

_LOADED: dict[object, Path] = {}  # per test process: what was loaded -> its instance folder
_SHARED: list[Path] = []  # the folder the workers of this run share, when under xdist


def share_between_workers(folder: Path) -> None:
    """Keep loaded instances in `folder`, one run's folder that every worker of the run sees (and
    pytest removes with the run's other temporary folders)."""
    folder.mkdir(parents=True, exist_ok=True)
    _SHARED[:] = [folder]


def copy_loaded(instance: Path, what: object, load: Callable[[Path], Flask]) -> None:
    """Make `instance` (a folder that does not exist yet) a copy of the instance `load` builds
    at the path it is given. `what` names the loaded content (the datasets, their files): equal
    for two calls only when `load` would make the same instance; loaded once per run (once per
    process outside xdist)."""
    if what not in _LOADED:
        _LOADED[what] = _shared(what, load) if _SHARED else _load(Path(tempfile.mkdtemp(prefix="kaifang-loaded-")), load)
    shutil.copytree(_LOADED[what], instance)


def _load(root: Path, load: Callable[[Path], Flask]) -> Path:
    atexit.register(shutil.rmtree, root, True)
    app = load(root / "instance")
    _settle(app)
    return root / "instance"


def _settle(app: Flask) -> None:
    flush_all()  # nothing of it written after the copies are taken
    database(app).engine.dispose()  # SQLite's write-ahead log folded into the file


def _shared(what: object, load: Callable[[Path], Flask]) -> Path:
    """The run's loaded instance of `what`, loaded here unless another worker did: a worker
    that finds the lock taken waits for the load to finish. A folder is renamed into place whole,
    so a worker never copies a half-loaded one (a load that fails leaves none)."""
    name = hashlib.sha256(repr(what).encode()).hexdigest()[:16]
    done = _SHARED[0] / name
    with open(_SHARED[0] / f"{name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                building = _SHARED[0] / f"{name}.loading"
                shutil.rmtree(building, ignore_errors=True)
                _settle(load(building / "instance"))
                building.rename(done)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return done / "instance"
