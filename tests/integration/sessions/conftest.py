"""An instance with a conditional dataset (clinic visits) and an open one (flights), and helpers
that drive analysis sessions over API v1 with keys, as an outside developer would."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.access.service import grant_access
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from tests import factories
from tests.conftest import DATASETS, make_app
from tests.instances import copy_loaded
from tests.integration.analysis.conftest import write_fixed_key

CLINIC = "clinic-visits-synthetic"
FLIGHTS = "nyc-flights-2013"
SCOPE = ("sandbox:run",)


# The red-team rounds' cells ask 20-40 queries each: on a loaded 2-core machine one overran the
# default 10 s wall clock (round 9, under load 10). Runaway code is stopped by the CPU limit (3 s)
# all the same, and tests of the wall clock set their own.
WORLD = {"RATELIMIT_ANON": "100000/minute", "ANALYSIS_ANSWER_QUANTUM_MS": 1, "SANDBOX_WALL_SECONDS": 60}


def build_app(root: Path, **config):
    """An app with CLINIC and FLIGHTS loaded under the fixed key. Its instance is a copy of one
    loaded once per test process (`copy_loaded`) with the default settings, `config` applying to
    the app over the copy; a `config` that moves the database or the data elsewhere loads them
    itself."""
    if config.keys() & {"DATABASE_URL", "DATA_DIR", "SEARCH_DIR"}:
        return _loaded(root / "instance", **config)
    copy_loaded(root / "instance", "sessions", _loaded)
    app = make_app(root / "instance", **{**WORLD, **config})
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    return app


def _loaded(instance: Path, **config):
    app = make_app(instance, **{**WORLD, **config})
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        for slug in (CLINIC, FLIGHTS):
            publishing.load_package(session, SYSTEM, DATASETS / slug, data_dir=Path(app.config["DATA_DIR"]))
    return app


@pytest.fixture(scope="module")
def sessions_app(tmp_path_factory):
    return build_app(tmp_path_factory.mktemp("sessions"))


def grant(app, email: str, slug: str = CLINIC, cells: int = 500, mode: str | None = "sdc") -> int:
    """A grant in the statistical mode unless `mode` says otherwise (None: the dataset's declared
    mode, the ε-budget one for the bundled clinic visits: decision 0030q)."""
    with app.app_context(), session_scope(app) as session:
        return grant_access(session, SYSTEM, email=email, slug=slug, days=5, purpose="tests",
                            daily_cell_budget=cells, disclosure_mode=mode, daily_epsilon=None)


class Analyst:
    """A developer with a `sandbox:run` key and a client of the app."""

    def __init__(self, app, *, scopes=SCOPE, role="developer"):
        self.app = app
        self.email = factories.user(app, role)
        self.key = factories.api_key(app, self.email, scopes=scopes)
        self.client = app.test_client()
        self.headers = {"X-API-Key": self.key}

    def get(self, path, **kw):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path, json, **kw):
        return self.client.post(path, json=json, headers=self.headers, **kw)

    def delete(self, path):
        return self.client.delete(path, headers=self.headers)

    def open(self, *datasets):
        answer = self.post("/api/v1/sessions", {"datasets": list(datasets)})
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    def run(self, session_id, code, wait=30):
        submitted = self.post(f"/api/v1/sessions/{session_id}/runs", {"code": code})
        assert submitted.status_code == 202, submitted.json
        return self.get(f"/api/v1/runs/{submitted.json['id']}?wait={wait}").json

    def finished(self, run_id):
        """The run once it is done or failed, waiting up to 4 minutes (a loaded machine)."""
        for _ in range(8):
            found = self.get(f"/api/v1/runs/{run_id}?wait=30").json
            if found["status"] in ("done", "error"):
                break
        return found


@pytest.fixture
def analyst(sessions_app):
    return lambda **kw: Analyst(sessions_app, **kw)
