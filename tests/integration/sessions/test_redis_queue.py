"""The production queue for real: web apps that only enqueue into Redis, and a `run-worker`
(here a thread of the test process, with its own `Core` — configuration and database without
Flask, as `kaifang run-worker` builds it) that holds the pool and runs the cells."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from portal import create_core
from portal.config import SETTING_NAMES
from portal.core import Core
from portal.sessions.queue import RedisQueue, queue_for, run_worker
from tests.integration.sessions.conftest import FLIGHTS, Analyst, build_app

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_apps(redis_url, tmp_path):
    prefix = f"kaifang-test-{uuid.uuid4().hex[:8]}"
    settings = {"SESSION_QUEUE_URL": redis_url, "RATELIMIT_KEY_PREFIX": prefix,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    web = build_app(tmp_path / "web", **settings)
    made = build_app(tmp_path / "worker", **{**settings, "DATA_DIR": web.config["DATA_DIR"]})
    service = create_core({k: v for k, v in made.config.items() if k in SETTING_NAMES},
                          instance=Path(made.config["INSTANCE_PATH"]))
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(service,), kwargs={"threads": 2, "stop": stop}, daemon=True)
    yield web, service, worker, stop
    stop.set()
    if worker.is_alive():
        worker.join(timeout=10)
    queue_for(web)._redis.delete(queue_for(web).key)


def test_cells_queued_in_redis_run_in_the_worker_process_in_order(redis_apps):
    web, service, worker, _ = redis_apps
    queue = queue_for(web)
    assert isinstance(queue, RedisQueue) and queue.backend == "redis"
    me = Analyst(web)
    session_id = me.open(FLIGHTS)
    runs = [me.post(f"/api/v1/sessions/{session_id}/runs", {"code": code}).json["id"]
            for code in ("n = dataset('nyc-flights-2013').count()", "m = n + 1", "print(m - n)")]
    assert queue.depth() == 3  # nothing runs in the web app: no worker yet
    assert me.get(f"/api/v1/runs/{runs[0]}").json["status"] == "queued"
    worker.start()
    last = me.get(f"/api/v1/runs/{runs[2]}?wait=30").json
    assert last["status"] == "done" and last["result"]["stdout"] == "1\n", last
    assert [me.get(f"/api/v1/runs/{r}").json["status"] for r in runs] == ["done"] * 3
    assert isinstance(service, Core) and queue_for(service).backend == "redis"
    assert "kaifang.analysis_settings" not in web.extensions  # the web app never prepared a run


def test_a_waiter_wakes_on_the_finished_latch(redis_apps):
    web, _, _, _ = redis_apps
    queue = queue_for(web)
    run_id = uuid.uuid4().hex
    queue.notify(run_id)
    queue.wait(run_id, 5)  # returns at once, and leaves the latch for the next waiter
    assert queue._redis.llen(queue._done + run_id) == 1
    assert 0 < queue._redis.ttl(queue._done + run_id) <= 120
