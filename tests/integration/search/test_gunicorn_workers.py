"""Several gunicorn workers on PostgreSQL: a dataset loaded by another process is found by every
worker at once, and a search index deleted while they serve is rebuilt while they keep answering."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from portal.db import database
from tests.conftest import ROOT, make_app
from tests.factories import dataset_folder, load

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _search(base: str, q: str) -> dict:
    url = f"{base}/api/v1/search?{urllib.parse.urlencode({'q': q})}"
    with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def test_two_workers_find_a_new_dataset_at_once_and_survive_a_deleted_index(postgres_url, tmp_path):
    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    port = _free_port()
    env = {**os.environ, "KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": "gunicorn-search-test",
           "KAIFANG_DATABASE_URL": postgres_url, "KAIFANG_RATELIMIT_ANON": "10000/minute"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as errors:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([str(gunicorn), "-w", "2", "-k", "gthread", "--threads", "2", "-b",
                                 f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=errors)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _search(base, "公交")["total"] == 0:
                    break
            except OSError:
                time.sleep(0.3)
        # warm every worker's searcher on the old generation, then load from another process
        assert all(_search(base, "公交")["total"] == 0 for _ in range(6))
        load(app, dataset_folder(tmp_path / "src", "bus-stops", title_zh="公交站点"))
        found = [_search(base, "公交")["results"] for _ in range(10)]
        assert all(r and r[0]["slug"] == "bus-stops" for r in found), "every worker sees the load at once"

        shutil.rmtree(app.config["SEARCH_DIR"])  # the index deleted while the site runs
        answers = [_search(base, "公交") for _ in range(4)]
        assert all(a["total"] == 1 for a in answers)  # database fallback or rebuilt index: never an error
        # pinyin needs the index: answered once the rebuild is done, by both workers (each call
        # may go to either, so several right answers in a row); a loaded machine may be slow
        deadline, in_a_row = time.monotonic() + 120, 0
        while time.monotonic() < deadline and in_a_row < 6:
            in_a_row = in_a_row + 1 if [r["slug"] for r in _search(base, "gongjiao")["results"]] == ["bus-stops"] else 0
            time.sleep(0 if in_a_row else 0.5)
        assert in_a_row == 6, log.read_text(errors="replace")[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        database(app).engine.dispose()
