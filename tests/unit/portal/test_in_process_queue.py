"""The embedded run queue's announcement of a finished run is not lost when it comes between
a waiting request's read of the run and its wait (the Redis latch keeps it; the in-process
queue slept a whole slice). Counted, not timed."""

from __future__ import annotations

import threading

from portal.sessions.queue import RECENT_DONE, InProcessQueue


class _Counted(threading.Condition):
    def __init__(self):
        super().__init__()
        self.waits = 0

    def wait(self, timeout=None):
        self.waits += 1
        return super().wait(timeout)


def _queue() -> tuple[InProcessQueue, _Counted]:
    found = InProcessQueue(app=None)
    found._finished = condition = _Counted()
    return found, condition


def test_a_run_announced_before_the_wait_is_not_waited_for():
    runs, condition = _queue()
    runs.notify("run-1")
    runs.wait("run-1", 5.0)
    assert condition.waits == 0


def test_a_run_not_announced_is_waited_for_one_slice():
    runs, condition = _queue()
    runs.notify("run-1")
    runs.wait("run-2", 0.001)
    assert condition.waits == 1


def test_the_remembered_announcements_are_bounded():
    runs, _ = _queue()
    for number in range(RECENT_DONE + 10):
        runs.notify(f"run-{number}")
    assert len(runs._done) == RECENT_DONE
    assert "run-0" not in runs._done and f"run-{RECENT_DONE + 9}" in runs._done
