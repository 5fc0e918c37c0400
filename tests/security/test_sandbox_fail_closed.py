"""A broker that fails closed: no analyst code runs in a worker missing a required layer.

As root, a real failure is easy to provoke: without the uid drop, RLIMIT_NPROC is ignored
for root, so the `nproc` layer reports "failed". The pool must then refuse every run, unless the
operator named that layer in `allow_missing` (the explicit, logged override).
"""

from __future__ import annotations

import logging
import os

import pytest

from sandbox import IsolationWarning, RunRequest, Sandbox, SandboxConfig
from sandbox.isolation import LAYERS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="provoking a failed layer this way needs root")
WITHOUT_UID = frozenset(LAYERS) - {"uid"}


class Recorder:
    def __init__(self):
        self.plans = []

    def execute(self, plan):
        self.plans.append(plan)
        return {"status": "ok", "count": 1}


def test_a_missing_layer_refuses_every_run():
    with pytest.warns(IsolationWarning, match="nproc"), Sandbox(SandboxConfig(workers=1, layers=WITHOUT_UID)) as pool:
        broker = Recorder()
        result = pool.run(RunRequest(code="print('ran')\nn = dataset('x').count()", grants=("x",)), broker)
    assert pool.unconfined() == ["nproc (failed: RLIMIT_NPROC is ignored for root)"]
    assert result.status == "refused"
    assert "isolation layers are missing" in result.message and "nproc" in result.message
    assert result.stdout == "" and broker.plans == []  # the code never ran, no plan was asked


def test_a_worker_that_comes_up_unconfined_is_never_sent_the_code():
    """The supervisor's own check, for a layer that fails in one worker but not at the probe:
    a worker reporting a failed seccomp layer gets no code, and the run is refused."""
    import socket
    import time

    from sandbox import supervisor, wire

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        report = dict.fromkeys(LAYERS, "active") | {"seccomp": "failed: no filter"}
        wire.send(theirs, {"t": "ready", "isolation": report})
        conv = supervisor.Conversation(RunRequest(code="secret_code = 1"), Recorder(),
                                       deadline=time.monotonic() + 5, required=frozenset(LAYERS))
        supervisor.converse(ours, conv)
        ours.shutdown(socket.SHUT_WR)
        assert theirs.recv(1 << 16) == b""  # nothing was sent after the ready message
    result = supervisor.judge(conv, {"exit": 70}, time.monotonic(), {})
    assert result.status == "refused" and "seccomp (failed: no filter)" in result.message


def test_the_operator_override_is_explicit_and_logged(caplog):
    caplog.set_level(logging.WARNING, logger="sandbox.pool")
    config = SandboxConfig(workers=1, layers=WITHOUT_UID, allow_missing=frozenset({"nproc"}))
    with pytest.warns(IsolationWarning), Sandbox(config) as pool:
        result = pool.run(RunRequest(code="print('ran')"), Recorder())
    assert result.status == "ok" and result.stdout.strip() == "ran"
    assert result.isolation.fallback is True
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "override" in logged and "nproc" in logged
