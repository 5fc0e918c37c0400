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


def test_the_account_epsilon_ledgers_migrate_up_and_down_with_what_grants_spent(app, tmp_path):
    """0018g: the grants' ε ledger becomes the accounts' (two grants of one account summed, by day
    and in all); a downgrade drops the new tables and columns and keeps the grants' ledger."""
    from alembic import command
    from sqlalchemy import inspect, text

    from portal.catalog.setup import alembic_config
    from portal.db import database

    engine = database(app).engine

    def to(revision: str, upward: bool) -> None:
        with engine.begin() as conn:
            config = alembic_config(app.config["DATABASE_URL"])
            config.attributes["connection"] = conn
            (command.upgrade if upward else command.downgrade)(config, revision)

    from tests.factories import user

    email = user(app, "developer")
    load(app, dataset_folder(tmp_path / "src"))
    with engine.connect() as conn:
        user_id = conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": email}).scalar()
        dataset_id = conn.execute(text("SELECT id FROM datasets")).scalar()
    to("0018f", upward=False)
    assert "epsilon_account_totals" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        for grant_id in (1, 2):
            conn.execute(text("INSERT INTO grants (id, user_id, dataset_id, level, purpose, granted_by, daily_cell_budget,"
                              " created_at, expires_at) VALUES (:g, :u, :d, 'aggregate', '', '', 10, '2026-12-01',"
                              " '2027-01-01')"), {"g": grant_id, "u": user_id, "d": dataset_id})
        conn.execute(text("INSERT INTO epsilon_ledger (grant_id, day, epsilon, queries) VALUES "
                          "(1, '2026-12-01', 0.5, 5), (2, '2026-12-01', 0.25, 1), (1, '2026-12-02', 0.125, 1)"))
    to("0018g", upward=True)
    with engine.connect() as conn:
        days = conn.execute(text("SELECT user_id, dataset_id, day, epsilon, queries FROM epsilon_account_days "
                                 "ORDER BY day")).all()
        total = conn.execute(text("SELECT user_id, dataset_id, epsilon, queries FROM epsilon_account_totals")).all()
        before = conn.execute(text("SELECT epsilon_before, lifetime_epsilon FROM grants ORDER BY id")).all()
    assert [tuple(r) for r in days] == [(user_id, dataset_id, "2026-12-01", 0.75, 6),
                                        (user_id, dataset_id, "2026-12-02", 0.125, 1)]
    assert [tuple(r) for r in total] == [(user_id, dataset_id, 0.875, 7)]
    assert [tuple(r) for r in before] == [(0.0, None), (0.0, None)], "what was spent before counts against both"
    to("0018f", upward=False)
    assert not {"epsilon_account_days", "epsilon_account_totals"} & set(inspect(engine).get_table_names())
    assert {"epsilon_before", "lifetime_epsilon"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("grants"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM epsilon_ledger")).scalar() == 3
    to("head", upward=True)
    assert _diff(app.config["DATABASE_URL"]) == []
