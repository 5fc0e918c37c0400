"""Shared fixtures: apps on temporary instances, the bundled catalog, real PostgreSQL/Redis.

A read-only catalog with every bundled dataset is built once per test process (`bundled_app`);
tests that write get their own function-scoped `app`. PostgreSQL and Redis tests skip with a
reason when the servers do not answer, and fail instead when CI=true (they are required there).
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from portal import create_app, prepare_instance
from portal.auth import SYSTEM

# No test's `kaifang sandbox-run` in a subprocess leaves a command server behind (decision
# 0030v); tests/integration/test_command_server.py turns it on for its own, and stops them.
os.environ["KAIFANG_COMMAND_SERVER"] = "off"

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("KAIFANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KAIFANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def pytest_configure(config):
    """Under pytest-xdist, a worker's `--basetemp` is a folder of the run's own temporary folder:
    loaded instances go beside it, shared by the run's workers (tests/instances.py)."""
    if hasattr(config, "workerinput"):
        from tests.instances import share_between_workers

        share_between_workers(Path(config.option.basetemp).parent / "loaded")


def make_app(instance: Path, **config):
    settings = {"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": True, **config}
    app = create_app(settings, instance=instance)
    prepare_instance(app)
    return app


def empty_app(instance: Path, **config):
    """`make_app` over a copy of an empty instance migrated once per run (tests/instances.py;
    0.06 s of CPU against 0.3 s for migrating and indexing each, 3 December 2026). `config` must
    leave the database, the data and the search index in the instance folder."""
    from tests.instances import copy_loaded

    copy_loaded(instance, "empty", make_app)
    return make_app(instance, **config)


@pytest.fixture
def app(tmp_path):
    return empty_app(tmp_path / "instance")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def bundled_app(tmp_path_factory):
    """An app with every bundled dataset loaded through the same code path as `kaifang load`; its
    instance a copy of the one loaded once per run (tests/instances.py)."""
    from tests.instances import copy_loaded

    instance = tmp_path_factory.mktemp("bundled") / "instance"
    copy_loaded(instance, "bundled", _load_bundled)
    return make_app(instance, **BUNDLED)


# Shared by many test files in one process: a limit no test reaches by accident (the limit tests
# build their own apps).
BUNDLED = {"RATELIMIT_ANON": "100000/minute"}


def _load_bundled(instance: Path):
    from portal.catalog import publishing
    from portal.catalog.packages import find_packages
    from portal.db import session_scope

    app = make_app(instance, **BUNDLED)
    with app.app_context(), session_scope(app) as session:
        for folder in find_packages(DATASETS):
            publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
    return app


@pytest.fixture
def statistical_public(monkeypatch):
    """Public aggregates answered in the statistical mode whatever the dataset declares. The
    bundled conditional datasets declare the ε-budget mode, whose public aggregates are answered
    in it (decision 0030z); the tests of the statistical path (cell-key noise, rounding, minimum
    cell, differencing memory, cell budget) run on their data as on a dataset a publisher
    declared statistical."""
    from portal.analysis import public
    from portal.catalog.disclosure_settings import PrivacySettings

    monkeypatch.setattr(public, "_privacy", lambda source, settings: PrivacySettings(mode="sdc"))


@pytest.fixture
def bundled_client(bundled_app):
    return bundled_app.test_client()


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}; it is required when CI=true")
    pytest.skip(f"{message}; start it to run these tests")


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kaifang_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        from portal.catalog.counters import flush_all

        flush_all()  # tallies of this database are written before it is dropped
        with admin.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def login_as(request):
    """`login_as(role, app=None)`: a test client signed in as a new account of `role` (confirmed
    e-mail; "public" gives an anonymous client). Without `app`, the test's function-scoped `app`."""
    from tests import factories

    def login(role: str, app=None):
        app = app or request.getfixturevalue("app")
        client = app.test_client()
        if role == "public":
            return client
        email = factories.user(app, role)
        with app.app_context():
            from portal.accounts import service
            from portal.db import session_scope

            with session_scope(app) as session:
                user_id = service.user_by_email(session, email).id
        with client.session_transaction() as flask_session:
            flask_session["user_id"] = user_id
        client.email = email
        return client

    return login


@pytest.fixture
def api_key(request):
    """`api_key(scopes=(...), tier=None, role="developer", expires_days=None, app=None)`: a new
    key of a new account, as the string a client sends. Without `app`, the test's `app`."""
    from tests import factories

    def make(scopes=("catalog:read", "rows:read"), tier=None, role="developer", expires_days=None, app=None):
        app = app or request.getfixturevalue("app")
        email = factories.user(app, role)
        return factories.api_key(app, email, scopes=scopes, tier=tier, expires_days=expires_days)

    return make
