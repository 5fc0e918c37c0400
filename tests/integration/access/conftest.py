"""An instance with the two bundled conditional datasets and an open one, and clients by role."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.analysis.keys import create_key_file
from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from tests.conftest import DATASETS, make_app
from tests.instances import copy_loaded

SLUGS = ("clinic-visits-synthetic", "household-income-survey-synthetic", "nyc-flights-2013")


@pytest.fixture(scope="module")
def access_app(tmp_path_factory):
    """A module's app; its instance a copy of one loaded once per test process (`copy_loaded`)."""
    instance = tmp_path_factory.mktemp("access") / "instance"
    copy_loaded(instance, "access", _loaded)
    return make_app(instance, RATELIMIT_ANON="100000/minute")


def _loaded(instance: Path):
    app = make_app(instance, RATELIMIT_ANON="100000/minute")
    create_key_file(instance)  # what `kaifang init` does: applicants' identities are kept under it
    with app.app_context(), session_scope(app) as session:
        for slug in SLUGS:
            publishing.load_package(session, SYSTEM, DATASETS / slug, data_dir=Path(app.config["DATA_DIR"]))
    return app


@pytest.fixture
def as_role(access_app, login_as):
    """`as_role(role)`: a client signed in as a new account of `role` on `access_app`."""
    return lambda role: login_as(role, app=access_app)
