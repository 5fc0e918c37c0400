"""The supervisor against a *compromised* worker: a thread that speaks raw frames.

This is what wall 2 has to survive after wall 1 fell: the worker can send anything at all.
"""

import socket
import struct
import threading
import time

import pytest

from sandbox import Limits, RunRequest, wire
from sandbox.supervisor import Conversation, converse, judge
from tests.unit.sandbox.fakes import FakeBroker

LAYERS = {"rlimits": "active"}


def talk(frames, request=None, broker=None, wall=5.0):
    """Run `converse` against a fake worker that sends `frames` (bytes or messages)."""
    request = request or RunRequest(code="x = 1", grants=("people",))
    broker = broker or FakeBroker()
    ours, theirs = socket.socketpair()
    received = []

    def fake_worker():
        with theirs:
            try:
                for frame in frames:
                    if frame == "hold":
                        time.sleep(0.6)
                    elif isinstance(frame, bytes):
                        theirs.sendall(frame)
                    else:
                        wire.send(theirs, frame)
                    if isinstance(frame, dict) and frame.get("t") in ("ready", "plan"):
                        received.append(wire.receive(theirs, 10 << 20, time.monotonic() + 5))
            except OSError:
                pass

    thread = threading.Thread(target=fake_worker)
    thread.start()
    with ours:
        conv = converse(ours, Conversation(request, broker, time.monotonic() + wall))
    thread.join()
    return conv, received, broker


READY = {"t": "ready", "isolation": LAYERS}
PLAN = {"version": 1, "action": "count", "source": "people", "steps": []}


def result(**overrides):
    return {"t": "result", "status": "ok", "message": "done", "stdout": "", "outputs": [],
            "error": None, "state": {}, **overrides}


def test_a_well_behaved_exchange():
    conv, received, broker = talk([READY, {"t": "plan", "plan": PLAN}, result(state={"n": 60})])
    assert received[0]["code"] == "x = 1"
    assert received[1] == {"t": "answer", "answer": {"status": "ok", "count": 60}}
    outcome = judge(conv, {"exit": 0, "signal": None}, time.monotonic(), LAYERS)
    assert (outcome.status, outcome.state) == ("ok", {"n": 60})
    assert outcome.isolation.layers == LAYERS


def test_a_huge_frame_header_is_refused_without_reading_it():
    conv, _, _ = talk([READY, struct.pack(">I", 2**31) + b"x" * 100])
    assert conv.failure.startswith("protocol")
    assert judge(conv, {"exit": 0}, time.monotonic(), LAYERS).status == "killed"


@pytest.mark.parametrize("junk", [b"\x00\x00\x00\x05nope!", b"\x00\x00\x00\x03NaN",
                                  b"\x00\x00\x00\x06[1, 2]"])
def test_malformed_frames_end_the_run(junk):
    conv, _, _ = talk([READY, junk])
    assert conv.failure.startswith("protocol")


def test_deeply_nested_json_is_a_protocol_error():
    body = b"[" * 100_000 + b"]" * 100_000
    conv, _, _ = talk([READY, struct.pack(">I", len(body)) + body])
    assert conv.failure.startswith("protocol")


def test_forged_plans_are_validated_and_grant_checked():
    forged = [READY,
              {"t": "plan", "plan": {**PLAN, "source": "secret"}},
              {"t": "plan", "plan": {**PLAN, "steps": [{"op": "sql", "q": "DROP TABLE x"}]}},
              {"t": "plan", "plan": "SELECT * FROM people"},
              result()]
    conv, received, broker = talk(forged)
    assert [r["answer"]["rule"] for r in received[1:]] == ["grant", "plan", "plan"]
    assert broker.plans == []


class _AuditingBroker(FakeBroker):
    def __init__(self):
        super().__init__()
        self.told = []

    def refused_before(self, plan, rule, reason):
        self.told.append((plan, rule))


def test_refusals_before_the_broker_are_told_to_a_broker_that_keeps_an_audit():
    forged = [READY,
              {"t": "plan", "plan": {**PLAN, "source": "secret"}},
              {"t": "plan", "plan": "SELECT * FROM people"},
              {"t": "plan", "plan": PLAN},
              {"t": "plan", "plan": PLAN},
              result()]
    request = RunRequest(code="x = 1", grants=("people",), limits=Limits(queries=3))
    _, received, broker = talk(forged, request=request, broker=_AuditingBroker())
    assert [r["answer"].get("rule") for r in received[1:]] == ["grant", "plan", None, "query-cap"]
    assert broker.told == [({**PLAN, "source": "secret"}, "grant"), ("SELECT * FROM people", "plan"),
                           (PLAN, "query-cap")]
    assert broker.plans == [PLAN]


def test_forged_outputs_and_status_are_rejected():
    conv, _, _ = talk([READY, result(outputs=[{"kind": "html", "html": "<script>"}])])
    assert judge(conv, {"exit": 0}, time.monotonic(), LAYERS).status == "error"
    conv, _, _ = talk([READY, result(status="released-everything")])
    assert "unknown status" in judge(conv, {"exit": 0}, time.monotonic(), LAYERS).message
    chart = {"kind": "chart", "mark": "bar", "x": "a", "y": "b", "color": None, "title": None,
             "values": [[{"nested": "object"}, 1]]}
    conv, _, _ = talk([READY, result(outputs=[chart])])
    assert judge(conv, {"exit": 0}, time.monotonic(), LAYERS).status == "error"


def test_isolation_comes_from_the_ready_message_only():
    conv, _, _ = talk([{"t": "result", "status": "ok"}])
    assert conv.failure.startswith("protocol")
    assert judge(conv, None, time.monotonic(), LAYERS).isolation.layers == LAYERS


def test_a_silent_worker_times_out():
    conv, _, _ = talk([READY, "hold"], wall=0.3)
    assert conv.failure == "timeout"


def test_broker_exceptions_do_not_leak_details():
    class BrokenBroker(FakeBroker):
        def execute(self, plan):
            raise RuntimeError("password=hunter2 at /srv/secret.db")

    conv, received, _ = talk([READY, {"t": "plan", "plan": PLAN}, result()], broker=BrokenBroker())
    answer = received[1]["answer"]
    assert answer == {"status": "refused", "rule": "broker-error",
                      "reason": "the data service could not answer"}


def test_oversized_broker_answers_are_refused():
    class HugeBroker(FakeBroker):
        def execute(self, plan):
            return {"status": "ok", "count": 1, "padding": "x" * 2000}

    request = RunRequest(code="", grants=("people",), limits=Limits(result_bytes=1000))
    _, received, _ = talk([READY, {"t": "plan", "plan": PLAN}, result()], request=request,
                          broker=HugeBroker())
    assert received[1]["answer"]["rule"] == "too-large"
