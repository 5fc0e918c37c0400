"""The live index: loading, editing, re-versioning and deleting a dataset shows in search at
once, also from a second worker; drafts stay hidden; a deleted or corrupt index is rebuilt in
the background while searches fall back to the database; `kaifang reindex` rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from whoosh import index as whoosh_index

from portal import search
from portal.auth import SYSTEM
from portal.catalog import outbox, publishing
from portal.catalog.models import Dataset
from portal.db import session_scope
from tests import factories
from tests.conftest import make_app
from tests.factories import dataset_folder, load


def slugs(client, q, **args):
    response = client.get("/api/v1/search", query_string={"q": q, **args})
    assert response.status_code == 200
    return [r["slug"] for r in response.json["results"]]


def retitle(folder: Path, title_zh: str, title_en: str) -> None:
    path = folder / "datapackage.json"
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    descriptor["title"], descriptor["kaifang"]["title_zh"] = title_en, title_zh
    path.write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")


def test_load_edit_version_delete_are_searchable_at_once(app, client, tmp_path):
    folder = dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点")
    load(app, folder)
    assert slugs(client, "公交") == ["bus-stops"] and slugs(client, "gongjiao") == ["bus-stops"]

    retitle(folder, "地铁站点", "Metro stations")
    load(app, folder)
    assert slugs(client, "地铁") == ["bus-stops"] and slugs(client, "metro") == ["bus-stops"]
    assert slugs(client, "公交") == []

    bigger = tmp_path / "v2.csv"
    bigger.write_text("code,name,population,founded\n" + "".join(f"0{i},区{i},{i},\n" for i in range(50)), encoding="utf-8")
    with app.app_context(), session_scope(app) as session:
        publishing.add_version(session, SYSTEM, "bus-stops", bigger, data_dir=Path(app.config["DATA_DIR"]))
    searcher = search.engine(app).searcher()
    assert [f["records"] for _, f in searcher.reader().iter_docs()] == [50]

    with app.app_context(), session_scope(app) as session:
        publishing.delete_dataset(session, SYSTEM, "bus-stops", data_dir=Path(app.config["DATA_DIR"]))
        assert search.pending_changes(session) == 0
    assert slugs(client, "地铁") == [] and slugs(client, "") == []
    assert client.get("/api/v1/search/suggest", query_string={"q": "地铁"}).json["suggestions"] == []


def test_a_second_worker_sees_a_load_at_once(app, tmp_path):
    other = make_app(Path(app.instance_path))  # same database and index folder: another process's view
    assert slugs(other.test_client(), "bus") == []
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    assert slugs(other.test_client(), "公交站点") == ["bus-stops"]


@pytest.fixture
def draft_app(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src", "secret-plan", title_zh="保密规划草案", department="planning"))
    load(app, dataset_folder(tmp_path / "src", "public-plan", title_zh="公开规划", department="planning"))
    with app.app_context(), session_scope(app) as session:
        session.execute(update(Dataset).where(Dataset.slug == "secret-plan").values(published=False))
        outbox.enqueue(session, session.query(Dataset.id).filter_by(slug="secret-plan").scalar())
        session.commit()
    return app


def _signed_in(app, role, department=None):
    from portal.accounts import service

    client = app.test_client()
    with app.app_context(), session_scope(app) as session:
        user = service.create_user(session, SYSTEM, email=f"{role}@example.org", password="long-password-1",
                                   role=role, department=department)
    with client.session_transaction() as flask_session:
        flask_session["user_id"] = user.id
    # The API authenticates by key only (never by the session cookie), so the API calls of this
    # client carry the user's key as well.
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {factories.api_key(app, user.email)}"
    return client


def test_drafts_are_found_only_by_who_may_see_them(draft_app):
    public = draft_app.test_client()
    assert slugs(public, "规划") == ["public-plan"]
    assert slugs(public, "保密") == [] and slugs(public, "") == ["public-plan"]
    assert public.get("/api/v1/search/suggest", query_string={"q": "保密"}).json["suggestions"] == []
    near_miss = public.get("/api/v1/search", query_string={"q": "保密规化"}).json
    assert "保密规划" not in (near_miss["suggestion"] or "") and near_miss["results"] == []
    steward = _signed_in(draft_app, "steward")
    assert set(slugs(steward, "规划")) == {"secret-plan", "public-plan"}
    steward.environ_base.pop("HTTP_AUTHORIZATION")
    assert slugs(steward, "规划") == ["public-plan"], "the API never reads the session cookie"
    assert set(slugs(_signed_in(draft_app, "publisher", "planning"), "规划")) == {"secret-plan", "public-plan"}


def test_deleted_index_is_rebuilt_while_searches_fall_back(app, client, tmp_path):
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    engine = search.engine(app)
    for child in engine.index.folder.iterdir():
        if child.is_file():
            child.unlink()
    response = client.get("/api/v1/search", query_string={"q": "公交"}).json
    assert response["total"] in (0, 1)  # the database filter, or the rebuilt index if it was quick
    if engine.index.status == "rebuilding":
        assert response["notices"] == ["index-rebuilding"]
    engine.index._rebuilder.join(timeout=60)
    assert engine.index.status == "ready"
    assert slugs(client, "gongjiao") == ["bus-stops"] and whoosh_index.exists_in(str(engine.index.folder))


def test_a_failed_rebuild_is_tried_again_not_left_on_the_fallback(app, client, tmp_path, monkeypatch):
    """Under load another process can hold the writer past the lock timeout: the rebuild fails,
    and a later search must start it again rather than leave this process on the fallback."""
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    index = search.engine(app).index
    real_rebuild, calls = index.rebuild, []

    def busy_once():
        calls.append(1)
        if len(calls) == 1:
            raise whoosh_index.LockError("writer held by another process")
        return real_rebuild()

    monkeypatch.setattr(index, "rebuild", busy_once)
    for child in index.folder.iterdir():
        if child.is_file():
            child.unlink()
    index.start_rebuild()
    index._rebuilder.join(timeout=60)
    assert index.status == "rebuilding" and slugs(client, "gongjiao") == []  # the fallback knows no pinyin
    monkeypatch.setattr("portal.search.index.RETRY_SECONDS", 0.0)
    slugs(client, "公交")  # this search starts the retry
    index._rebuilder.join(timeout=60)
    assert len(calls) == 2 and index.status == "ready"
    assert slugs(client, "gongjiao") == ["bus-stops"]


def test_page_shows_the_rebuild_notice(app, client, tmp_path):
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    engine = search.engine(app)
    engine.index.status = "rebuilding"  # as while the rebuild thread runs
    try:
        page = client.get("/search", query_string={"q": "公交"}).text
        assert "bus-stops" in page and 'class="notice"' in page
    finally:
        engine.index.status = "ready"


def test_corrupt_index_is_rebuilt_at_start_up(app, tmp_path):
    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    folder = Path(app.config["SEARCH_DIR"])
    for toc in folder.glob("_MAIN_*.toc"):
        toc.write_bytes(b"\x00garbage")
    restarted = make_app(Path(app.instance_path), SEARCH_BACKGROUND_REBUILD=False)
    assert slugs(restarted.test_client(), "公交") == ["bus-stops"]


def test_changes_wait_in_the_outbox_while_another_process_writes(app, client, tmp_path):
    engine = search.engine(app)
    engine.index.lock_timeout = 0.2
    ix = whoosh_index.open_dir(str(engine.index.folder))
    writer = ix.writer()  # another process holding the writer lock
    try:
        load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
        with app.app_context(), session_scope(app) as session:
            assert search.pending_changes(session) == 1
        assert slugs(client, "公交") == []
    finally:
        writer.cancel()
    assert engine.drain() == 1  # what the timer of any process does next
    assert slugs(client, "公交") == ["bus-stops"]


def test_reindex_command(app, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from portal.cli import main

    load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
    monkeypatch.setenv("KAIFANG_INSTANCE", app.instance_path)
    monkeypatch.setenv("KAIFANG_SECRET_KEY", "reindex-test")
    result = CliRunner().invoke(main, ["reindex"])
    assert result.exit_code == 0 and "indexed 1 dataset(s)" in result.output
    assert slugs(app.test_client(), "公交") == ["bus-stops"]
