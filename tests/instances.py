"""Instances loaded once per test process and copied for each app that needs one like them.

Loading a package (its Parquet, its record keys under the instance's disclosure key, an ordered
copy per column, decision 0027c) is most of an app's set-up: nyc-flights-2013 alone took 14-15 s
at load 6 on the two-core test machine, and every module of session tests loaded it again for an
app of its own; a red-team world of 301 people took 1.5-5 s, and a round builds a dozen worlds. A copy of the loaded instance folder (the SQLite database, the data files, the key files
and the search index, byte for byte) takes about 0.1 s, and the app made over it is a new app
with its own engine, pool and caches: a test sees what the freshly loaded instance would show,
and writes to its copy only.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from portal.catalog.counters import flush_all
from portal.db import database

_LOADED: dict[object, Path] = {}  # per test process: what was loaded -> its instance folder


def copy_loaded(instance: Path, what: object, load: Callable[[Path], Flask]) -> None:
    """Make `instance` (a folder that does not exist yet) a copy of the instance `load` builds
    at the path it is given. `what` names the loaded content (the datasets, their files): equal
    for two calls only when `load` would make the same instance; loaded once per process."""
    if what not in _LOADED:
        root = Path(tempfile.mkdtemp(prefix="kaifang-loaded-"))
        atexit.register(shutil.rmtree, root, True)
        app = load(root / "instance")
        flush_all()  # nothing of it written after the copies are taken
        database(app).engine.dispose()  # SQLite's write-ahead log folded into the file
        _LOADED[what] = root / "instance"
    shutil.copytree(_LOADED[what], instance)
