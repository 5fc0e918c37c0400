"""Migrations build the same schema as the models, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from portal.db import Base
from tests.conftest import make_app
from tests.factories import dataset_folder, load


def _diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    return diff


def test_sqlite_migration_matches_models(app):
    assert _diff(app.config["DATABASE_URL"]) == []


def test_downgrade_and_upgrade_again(app):
    from alembic import command

    from portal.catalog.setup import alembic_config, migrate
    from portal.db import database

    with database(app).engine.begin() as conn:
        config = alembic_config(app.config["DATABASE_URL"])
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    migrate(app)
    assert _diff(app.config["DATABASE_URL"]) == []


@pytest.mark.postgres
def test_postgres_migration_and_catalog(postgres_url, tmp_path):
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    assert _diff(postgres_url) == []
    outcome = load(app, dataset_folder(tmp_path / "src"))
    assert outcome.version.row_count == 3
    client = app.test_client()
    assert client.get("/datasets/districts").status_code == 200
    body = client.get("/api/v1/datasets?theme=geospatial").json
    assert body["total"] == 1 and body["items"][0]["slug"] == "districts"
    assert client.get("/").status_code == 200
    from portal.db import database
    database(app).engine.dispose()
