"""The production profile: rate-limit counts shared through the real Redis server by every worker."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import make_app

pytestmark = pytest.mark.redis


def test_two_workers_share_one_rate_limit_count(redis_url, tmp_path):
    prefix = f"kaifang-test-{uuid.uuid4().hex[:8]}"
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_ANON": "3/minute", "RATELIMIT_KEY_PREFIX": prefix}
    first = make_app(tmp_path / "a", **settings).test_client()
    second = make_app(tmp_path / "b", **settings).test_client()
    statuses = [client.get("/api/v1/datasets").status_code for client in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    limited = second.get("/api/v1/datasets")
    assert limited.json["code"] == "rate-limited" and int(limited.headers["Retry-After"]) > 0


def test_two_workers_share_one_count_per_key(redis_url, tmp_path):
    """Two apps on one database and one Redis: a key's tier limit is one count, as are its headers."""
    from tests import factories

    prefix = f"kaifang-test-{uuid.uuid4().hex[:8]}"
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": prefix,
                "RATELIMIT_TIERS": "developer=3/minute;1000/day", "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    first = make_app(tmp_path / "a", **settings)
    second = make_app(tmp_path / "b", **settings)
    key = {"X-API-Key": factories.api_key(first, factories.user(first, "developer"))}
    one, two = first.test_client(), second.test_client()
    answers = [client.get("/api/v1/datasets", headers=key) for client in (one, two, one, two)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[1].headers["RateLimit"].startswith('"minute";r=1;') and '"day";r=998;' in answers[1].headers["RateLimit"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert one.get("/api/v1/datasets").status_code == 200  # the address counts apart from the key


@pytest.mark.postgres
def test_gunicorn_workers_on_postgres_and_redis(postgres_url, redis_url, tmp_path):
    """The whole production profile for real: several gunicorn workers, PostgreSQL, Redis."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from portal.db import database
    from tests import factories
    from tests.conftest import DATASETS, ROOT
    from tests.factories import load

    app = make_app(tmp_path / "instance", DATABASE_URL=postgres_url)
    load(app, DATASETS / "china-smoking-lung-cancer")
    key = factories.api_key(app, factories.user(app, "developer"))
    database(app).engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KAIFANG_INSTANCE": app.instance_path, "KAIFANG_SECRET_KEY": "gunicorn-test",
           "KAIFANG_DATABASE_URL": postgres_url, "KAIFANG_RATELIMIT_STORAGE_URI": redis_url,
           "KAIFANG_RATELIMIT_ANON": "6/minute", "KAIFANG_RATELIMIT_KEY_PREFIX": f"kaifang-test-{uuid.uuid4().hex[:8]}",
           "KAIFANG_RATELIMIT_TIERS": "developer=9/minute;1000/day", "KAIFANG_USAGE_FLUSH_SECONDS": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-w", "2", "-k", "gthread", "--threads", "2", "-b", f"127.0.0.1:{port}",
                             "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def get(path, headers=None):
        try:
            request = urllib.request.Request(base + path, headers=headers or {})
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get("/about")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert get("/")[0] == 200
        status, body = get("/datasets/china-smoking-lung-cancer")
        assert status == 200 and "中国八城市吸烟与肺癌" in body.decode()
        api = [get("/api/v1/datasets/china-smoking-lung-cancer/rows")[0] for _ in range(8)]
        assert api.count(200) == 6 and api[-1] == 429, "one count across both workers"
        keyed = [get("/api/v1/datasets", {"Authorization": f"Bearer {key}"})[0] for _ in range(11)]
        assert keyed.count(200) == 9 and keyed[-1] == 429, "one count per key across both workers"
        _wait_for_usage(app, calls=11)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        database(app).engine.dispose()  # before the fixture drops the database


def _wait_for_usage(app, *, calls: int) -> None:
    """Each worker flushes its own buffered counts; together they add up to every call made."""
    import time

    from sqlalchemy import func, select

    from portal.accounts.models import ApiKeyUsage
    from portal.db import session_scope

    deadline, total = time.monotonic() + 30, 0
    while time.monotonic() < deadline:
        with session_scope(app) as session:
            total = session.scalar(select(func.coalesce(func.sum(ApiKeyUsage.calls), 0)))
        if total == calls:
            break
        time.sleep(0.3)
    assert total == calls
