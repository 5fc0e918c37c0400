"""Resolved datasets are cached until the catalog changes (here or in another process), and
counts leave the request path: a read issues no write; the tallies reach the database in batches."""

from __future__ import annotations

import itertools

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from portal.auth import Actor
from portal.catalog import counters
from portal.catalog.models import Counter, Dataset
from portal.catalog.permissions import can_view_dataset
from portal.catalog.queries import visible_datasets
from portal.db import database, make_engine
from tests.conftest import empty_app
from tests.factories import CSV, dataset_folder, load


def test_a_write_in_this_process_is_seen_at_once(tmp_path):
    app = empty_app(tmp_path / "inst", CATALOG_CACHE_SECONDS=3600)
    client = app.test_client()
    folder = dataset_folder(tmp_path / "src")
    load(app, folder)
    assert client.get("/api/v1/datasets/districts/rows").json["version"] == 1
    (folder / "data.csv").write_text(CSV + "010104,南开区,890000,1404-12-23\n", encoding="utf-8")
    load(app, folder)
    assert client.get("/api/v1/datasets/districts/rows").json["version"] == 2
    assert [v["number"] for v in client.get("/api/v1/datasets/districts").json["versions"]] == [2, 1]


def test_a_write_by_another_process_is_seen_after_the_check(tmp_path):
    app = empty_app(tmp_path / "inst", CATALOG_CACHE_SECONDS=0)
    client = app.test_client()
    load(app, dataset_folder(tmp_path / "src"))
    assert client.get("/api/v1/datasets/districts/rows").status_code == 200
    other = make_engine(app.config["DATABASE_URL"])  # another worker: its own engine, its own cache
    try:
        with Session(other) as session:
            session.execute(update(Dataset).where(Dataset.slug == "districts").values(open_class="conditional"))
            session.commit()
    finally:
        other.dispose()
    response = client.get("/api/v1/datasets/districts/rows")
    assert response.status_code == 403 and response.json["code"] == "rows-not-open"


def test_reads_do_not_write_and_counts_arrive_in_a_batch(tmp_path):
    app = empty_app(tmp_path / "inst", COUNTS_FLUSH_SECONDS=3600)
    client = app.test_client()
    load(app, dataset_folder(tmp_path / "src"))
    engine = database(app).engine
    writes = []

    def watch(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        for _ in range(3):
            assert client.get("/api/v1/datasets/districts/rows").status_code == 200
        client.get("/datasets/districts")
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert writes == []
    buffer = counters.buffer_for(Session(engine))
    assert buffer.pending()[(counters.API_CALL, "")] >= 3
    assert buffer.flush() >= 4
    with Session(engine) as session:
        assert session.scalar(select(Counter.value).where(Counter.name == "api_calls")) >= 3
        assert session.scalar(select(Dataset.view_count).where(Dataset.slug == "districts")) == 1
    assert client.get("/api/v1/datasets/districts").json["summary"]["view_count"] == 1


def test_the_cached_visibility_rule_matches_the_query(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src"))
    with Session(database(app).engine) as session:
        dataset = session.scalar(select(Dataset))
        actors = [Actor(None, "public"), Actor(1, "developer"), Actor(2, "publisher", department_id=dataset.department_id),
                  Actor(3, "publisher", department_id=999), Actor(4, "steward"), Actor(5, "admin")]
        for published, actor in itertools.product((True, False), actors):
            dataset.published = published
            session.flush()
            by_query = session.scalar(visible_datasets(actor).where(Dataset.id == dataset.id)) is not None
            by_rule = can_view_dataset(actor, published=published, department_id=dataset.department_id)
            assert by_query == by_rule, (published, actor)
        session.rollback()


def test_a_flush_waits_for_the_write_of_one_already_under_way(tmp_path, monkeypatch):
    """flush_all() returning must mean the counts made before it are in the database, even when
    the timer's flush had already taken them and was still writing (a flaky page test showed it)."""
    import threading

    app = empty_app(tmp_path / "inst", COUNTS_FLUSH_SECONDS=3600)
    load(app, dataset_folder(tmp_path / "src"))
    engine = database(app).engine
    buffer = counters.buffer_for(Session(engine))
    buffer.add(counters.API_CALL)
    writing, release = threading.Event(), threading.Event()
    real_write = counters._write

    def slow_write(session, tally):
        writing.set()
        assert release.wait(10)
        real_write(session, tally)

    monkeypatch.setattr(counters, "_write", slow_write)
    timer = threading.Thread(target=buffer.flush)  # the background timer's flush
    timer.start()
    assert writing.wait(10)
    monkeypatch.setattr(counters, "_write", real_write)
    second = threading.Thread(target=counters.flush_all)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # it waits for the write under way instead of returning at once
    release.set()
    timer.join(10)
    second.join(10)
    with Session(engine) as session:
        assert session.scalar(select(Counter.value).where(Counter.name == "api_calls")) >= 1
