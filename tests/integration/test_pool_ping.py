"""PostgreSQL connections are pinged before use only after lying idle in the pool (decision
0030b): a connection put back a moment ago is handed out again without a round trip, and one
whose server side went away while it lay idle is replaced, as `pool_pre_ping` did."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal import db


@pytest.fixture
def engine(postgres_url):
    made = db.make_engine(postgres_url)
    yield made
    made.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    count = {"n": 0}
    ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        count["n"] += 1
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return count


def test_a_connection_just_put_back_is_not_pinged(engine, pings):
    for _ in range(5):
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
    assert pings["n"] == 0


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(engine, pings, monkeypatch):
    with engine.connect() as connection:
        first = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    other = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with other.connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    other.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # every connection in the pool counts as idle now
    with engine.connect() as connection:
        second = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    assert pings["n"] >= 1
    assert second != first
