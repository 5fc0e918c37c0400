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


def _migrate(app, revision: str, *, upward: bool) -> None:
    """Up or down to `revision`, on the app's engine (one transaction)."""
    from alembic import command

    from portal.catalog.setup import alembic_config
    from portal.db import database

    with database(app).engine.begin() as conn:
        config = alembic_config(app.config["DATABASE_URL"])
        config.attributes["connection"] = conn
        (command.upgrade if upward else command.downgrade)(config, revision)


def test_the_account_epsilon_ledgers_migrate_up_and_down_with_what_grants_spent(app, tmp_path):
    """0018g: the grants' ε ledger becomes the accounts' (two grants of one account summed, by day
    and in all); a downgrade drops the new tables and columns and keeps the grants' ledger."""
    from sqlalchemy import inspect, text

    from portal.db import database

    engine = database(app).engine

    def to(revision: str, upward: bool) -> None:
        _migrate(app, revision, upward=upward)

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


def test_the_account_cell_ledgers_migrate_up_and_down_with_what_grants_released(app, tmp_path):
    """0018h: the grants' release ledger becomes the accounts' (two grants of one account summed,
    by day and in all; another account's apart); a downgrade drops the new tables and columns and
    keeps the grants' ledger."""
    _cell_ledgers_migrate(app, tmp_path)


@pytest.mark.postgres
def test_the_account_cell_ledgers_migrate_up_and_down_on_postgresql(postgres_url, tmp_path):
    _on_postgresql(postgres_url, tmp_path, _cell_ledgers_migrate)


def _on_postgresql(postgres_url, tmp_path, check) -> None:
    """`check(app, tmp_path)` on an app of the PostgreSQL test database."""
    from portal.db import database

    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    check(app, tmp_path)
    database(app).engine.dispose()


def _cell_ledgers_migrate(app, tmp_path) -> None:
    from sqlalchemy import inspect, text

    from portal.db import database
    from tests.factories import user

    engine = database(app).engine

    def to(revision: str, upward: bool) -> None:
        _migrate(app, revision, upward=upward)

    emails = [user(app, "developer"), user(app, "developer")]
    load(app, dataset_folder(tmp_path / "src"))
    with engine.connect() as conn:
        users = [conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": e}).scalar() for e in emails]
        dataset_id = conn.execute(text("SELECT id FROM datasets")).scalar()
    to("0018g", upward=False)
    assert "cell_account_totals" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        for grant_id, user_id in ((1, users[0]), (2, users[0]), (3, users[1])):
            conn.execute(text("INSERT INTO grants (id, user_id, dataset_id, level, purpose, granted_by, daily_cell_budget,"
                              " created_at, expires_at) VALUES (:g, :u, :d, 'aggregate', '', '', 100, '2026-12-01',"
                              " '2027-01-01')"), {"g": grant_id, "u": user_id, "d": dataset_id})
        conn.execute(text("INSERT INTO release_ledger (grant_id, day, cells) VALUES "
                          "(1, '2026-12-01', 60), (2, '2026-12-01', 30), (1, '2026-12-02', 7), (3, '2026-12-01', 11)"))
    to("0018h", upward=True)
    with engine.connect() as conn:
        days = conn.execute(text("SELECT user_id, dataset_id, day, cells FROM cell_account_days "
                                 "ORDER BY user_id, day")).all()
        total = conn.execute(text("SELECT user_id, dataset_id, cells FROM cell_account_totals ORDER BY user_id")).all()
        before = conn.execute(text("SELECT cells_before, lifetime_cells FROM grants ORDER BY id")).all()
    assert [(u, d, str(day), n) for u, d, day, n in days] == [
        (users[0], dataset_id, "2026-12-01", 90), (users[0], dataset_id, "2026-12-02", 7),
        (users[1], dataset_id, "2026-12-01", 11)]
    assert [tuple(r) for r in total] == [(users[0], dataset_id, 97), (users[1], dataset_id, 11)]
    assert [tuple(r) for r in before] == [(0, None)] * 3, "what was released before counts against every grant"
    to("0018g", upward=False)
    assert not {"cell_account_days", "cell_account_totals"} & set(inspect(engine).get_table_names())
    assert {"cells_before", "lifetime_cells"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("grants"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM release_ledger")).scalar() == 4
        assert conn.execute(text("SELECT count(*) FROM grants")).scalar() == 3
    to("head", upward=True)
    assert _diff(app.config["DATABASE_URL"]) == []


def test_the_applicant_identity_migrates_up_and_down_keeping_applications_and_grants(app, tmp_path):
    """0018l: applications gain the applicant's identity (null on the old ones), grants the account
    whose budgets they charge (their own for every grant made before); a downgrade drops the
    columns and keeps every application, grant and ledger row."""
    _identity_migrate(app, tmp_path)


@pytest.mark.postgres
def test_the_applicant_identity_migrates_up_and_down_on_postgresql(postgres_url, tmp_path):
    _on_postgresql(postgres_url, tmp_path, _identity_migrate)


def _identity_migrate(app, tmp_path) -> None:
    from sqlalchemy import inspect, text

    from portal.db import database
    from tests.factories import user

    engine, identity = database(app).engine, {"applicant_name", "document_type", "id_digest", "id_last4", "credit_code"}
    to = lambda revision, upward: _migrate(app, revision, upward=upward)  # noqa: E731 - as the tests above
    emails = [user(app, "developer"), user(app, "developer")]
    load(app, dataset_folder(tmp_path / "src"))
    with engine.connect() as conn:
        users = [conn.execute(text("SELECT id FROM users WHERE email = :e"), {"e": e}).scalar() for e in emails]
        dataset_id = conn.execute(text("SELECT id FROM datasets")).scalar()
    to("0018i", upward=False)
    assert "budget_user_id" not in {c["name"] for c in inspect(engine).get_columns("grants")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO applications (id, user_id, datasets, purpose, organisation, fields_wanted,"
                          " intended_outputs, duration_days, state, created_at) VALUES (1, :u, '[\"districts\"]', 'p',"
                          " 'o', '', '', 30, 'approved', '2026-12-01')"), {"u": users[0]})
        for grant_id, user_id in ((1, users[0]), (2, users[1])):
            conn.execute(text("INSERT INTO grants (id, user_id, dataset_id, level, purpose, granted_by, daily_cell_budget,"
                              " created_at, expires_at, application_id) VALUES (:g, :u, :d, 'aggregate', '', '', 100,"
                              " '2026-12-01', '2027-01-01', :a)"),
                         {"g": grant_id, "u": user_id, "d": dataset_id, "a": 1 if grant_id == 1 else None})
        conn.execute(text("INSERT INTO release_ledger (grant_id, day, cells) VALUES (1, '2026-12-01', 60), "
                          "(2, '2026-12-01', 11)"))
        conn.execute(text("INSERT INTO cell_account_totals (user_id, dataset_id, cells) VALUES (:a, :d, 60), (:b, :d, 11)"),
                     {"a": users[0], "b": users[1], "d": dataset_id})
    to("0018l", upward=True)
    with engine.connect() as conn:
        charged = conn.execute(text("SELECT id, user_id, budget_user_id FROM grants ORDER BY id")).all()
        old = conn.execute(text("SELECT applicant_name, id_digest, id_last4 FROM applications")).all()
    assert [tuple(r) for r in charged] == [(1, users[0], users[0]), (2, users[1], users[1])], "each its own, as before"
    assert [tuple(r) for r in old] == [(None, None, None)]
    with engine.begin() as conn:
        conn.execute(text("UPDATE applications SET applicant_name = '张三', document_type = 'resident', "
                          "id_digest = :h, id_last4 = '002X'"), {"h": "ab" * 32})
        conn.execute(text("UPDATE grants SET budget_user_id = :a WHERE id = 2"), {"a": users[0]})
    to("0018i", upward=False)
    assert "budget_user_id" not in {c["name"] for c in inspect(engine).get_columns("grants")}
    assert identity.isdisjoint(c["name"] for c in inspect(engine).get_columns("applications"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM applications")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM grants")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM release_ledger")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM cell_account_totals")).scalar() == 2
    to("head", upward=True)
    assert _diff(app.config["DATABASE_URL"]) == []
