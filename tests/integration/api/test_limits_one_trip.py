"""Counting an API call's rate-limit windows in one Redis round trip (portal/api/windows.py),
against the real Redis: same counts, headers and 429s as before, one command per call."""

from __future__ import annotations

import re
import uuid

import pytest

from portal.api import limits
from portal.api.windows import OneTripRedisStorage
from tests.conftest import empty_app

pytestmark = pytest.mark.redis
TIERS = "developer=3/minute;5/day|roomy=1000/minute;1000/day"


@pytest.fixture
def redis_app(tmp_path, redis_url):
    return empty_app(tmp_path / "inst", RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ANON="2/minute",
                    RATELIMIT_TIERS=TIERS, RATELIMIT_KEY_PREFIX=f"kaifang-test-{uuid.uuid4().hex[:8]}")


def _keys(app, ending: str) -> list[bytes]:
    """This app's counters in Redis whose names end with `ending`."""
    storage = app.extensions["kaifang.limiter"].storage
    pattern = storage.prefixed_key(f"LIMITER/{app.config['RATELIMIT_KEY_PREFIX']}/*")
    return [name for name in storage.storage.keys(pattern) if name.decode().endswith(ending)]


def _commands(app) -> list[str]:
    """Record the commands the limiter's Redis connections send from now on (the client's pool
    and the counting script's own per-thread connection alike)."""
    storage = app.extensions["kaifang.limiter"].storage
    connection_class = storage.storage.connection_pool.connection_class
    sent: list[str] = []
    send = connection_class.send_packed_command

    def counting(self, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        sent.append(packed.split(b"\r\n")[2].decode().upper())
        return send(self, command, check_health)

    connection_class.send_packed_command = counting
    _patched.append((connection_class, send))
    return sent


_patched: list[tuple[type, object]] = []


@pytest.fixture(autouse=True)
def _restore_connections():
    yield
    while _patched:
        connection_class, send = _patched.pop()
        connection_class.send_packed_command = send


def test_the_script_is_loaded_again_after_a_flush(redis_app):
    client = redis_app.test_client()
    client.get("/api/v1/datasets")
    redis_app.extensions["kaifang.limiter"].storage.storage.script_flush()
    response = client.get("/api/v1/datasets")
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "0"


def test_a_dropped_connection_is_made_again(redis_app):
    client = redis_app.test_client()
    client.get("/api/v1/datasets")
    storage = redis_app.extensions["kaifang.limiter"].storage
    storage._thread_connection().disconnect()  # e.g. the server closed it while idle
    response = client.get("/api/v1/datasets")
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "0"


def test_redis_uris_use_the_one_trip_storage(redis_app):
    assert isinstance(redis_app.extensions["kaifang.limiter"].storage, OneTripRedisStorage)
    assert limits.storage_uri("rediss://h:6380/1") == "kaifang+rediss://h:6380/1"
    assert limits.storage_uri("redis+sentinel://h/m") == "redis+sentinel://h/m"  # limits' own


def test_a_keyed_call_counts_both_windows_in_one_round_trip(redis_app, api_key):
    key = api_key(app=redis_app)
    client = redis_app.test_client()
    client.get("/api/v1/datasets", headers={"X-API-Key": key})  # loads the script once
    sent = _commands(redis_app)
    response = client.get("/api/v1/datasets", headers={"X-API-Key": key})
    assert response.status_code == 200
    assert sent == ["EVALSHA"]
    assert response.headers["RateLimit-Policy"] == '"minute";q=3;w=60, "day";q=5;w=86400'
    assert re.fullmatch(r'"minute";r=1;t=\d+, "day";r=3;t=\d+', response.headers["RateLimit"])
    assert response.headers["X-RateLimit-Remaining"] == "1"


def test_an_anonymous_call_is_one_round_trip_too(redis_app):
    client = redis_app.test_client()
    client.get("/api/v1/datasets")
    sent = _commands(redis_app)
    response = client.get("/api/v1/datasets")
    assert sent == ["EVALSHA"] and response.headers["X-RateLimit-Remaining"] == "0"
    blocked = client.get("/api/v1/datasets")
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60


def test_a_breached_minute_does_not_spend_the_day(redis_app, api_key):
    key = api_key(app=redis_app)
    client = redis_app.test_client()
    statuses = [client.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    day = _keys(redis_app, "/5/1/day")
    redis = redis_app.extensions["kaifang.limiter"].storage.storage
    assert len(day) == 1 and int(redis.get(day[0])) == 3  # as Flask-Limiter: first breach stops


def test_a_day_breach_answers_with_the_days_reset(redis_app, api_key):
    key = api_key(app=redis_app, tier="developer")
    other = redis_app.test_client()
    client = redis_app.test_client()
    for _ in range(3):
        assert client.get("/api/v1/datasets", headers={"X-API-Key": key}).status_code == 200
    redis_app.extensions["kaifang.limiter"].storage.storage.delete(*_keys(redis_app, "/1/minute"))  # a new minute
    answers = [other.get("/api/v1/datasets", headers={"X-API-Key": key}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 60  # the day's window, not the minute's
