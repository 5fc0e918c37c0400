"""The warm pool: threads, busy slots, a dying zygote, fallbacks and how endings are judged."""

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

import sandbox
from sandbox import IsolationWarning, Limits, RunRequest, Sandbox, SandboxConfig
from sandbox import pool as pool_module
from sandbox.isolation import LAYERS
from sandbox.supervisor import Conversation, judge
from tests.unit.sandbox.fakes import FakeBroker


@pytest.fixture(scope="module")
def pool():
    with Sandbox(SandboxConfig(workers=2)) as sandbox_pool:
        yield sandbox_pool


def test_many_threads_share_the_pool(pool):
    broker = FakeBroker()
    results = {}

    def worker(n):
        code = f"n = {n}\ncount_ = dataset('people').filter(col('id') < {n}).count()\nm = count_ * 2"
        results[n] = pool.run(RunRequest(code=code, grants=("people",)), broker)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {n: (r.status, r.state) for n, r in results.items()} == {
        n: ("ok", {"n": n, "count_": n, "m": 2 * n}) for n in range(1, 9)}


class BlockingBroker(FakeBroker):
    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def execute(self, plan):
        self.entered.set()
        self.release.wait(10)
        return super().execute(plan)


def test_a_full_pool_answers_busy_instead_of_hanging():
    with Sandbox(SandboxConfig(workers=1, slot_wait_seconds=0.2)) as small:
        broker = BlockingBroker()
        holder = threading.Thread(target=small.run, args=(
            RunRequest(code="dataset('people').count()", grants=("people",)), broker))
        holder.start()
        assert broker.entered.wait(10)
        busy = small.run(RunRequest(code="x = 1"), FakeBroker())
        broker.release.set()
        holder.join()
        after = small.run(RunRequest(code="x = 1"), FakeBroker())
    assert busy.status == "refused" and "busy" in busy.message
    assert after.status == "ok"


def test_a_slow_broker_ends_in_a_wall_clock_timeout(pool):
    class SlowBroker(FakeBroker):
        def execute(self, plan):
            time.sleep(0.6)
            return super().execute(plan)

    code = "for i in range(5):\n    dataset('people').count()"
    result = pool.run(RunRequest(code=code, grants=("people",),
                                 limits=Limits(wall_seconds=1.0)), SlowBroker())
    assert result.status == "timeout"
    assert "wall-clock" in result.message
    assert 1 <= len(result.released) < 5
    follow_up = pool.run(RunRequest(code="x = 2"), FakeBroker())
    assert follow_up.state == {"x": 2}


def test_a_dead_zygote_is_replaced(pool):
    pool._zygote.kill()
    result = pool.run(RunRequest(code="x = 3"), FakeBroker())
    assert result.status == "ok" and result.state == {"x": 3}


def test_a_missing_layer_warns_at_start_and_flags_every_result():
    with pytest.warns(IsolationWarning, match="seccomp"):
        weaker = Sandbox(SandboxConfig(workers=1, layers=frozenset(LAYERS) - {"seccomp"}))
    try:
        result = weaker.run(RunRequest(code="x = 1"), FakeBroker())
    finally:
        weaker.close()
    assert result.isolation.fallback is True
    assert result.isolation.layers["seccomp"] == "off"
    assert result.isolation.layers["chroot"] == "active"


@pytest.mark.parametrize("request_, message", [
    (RunRequest(code="x = 1\n" * 20000), "limit is 65536"),
    (RunRequest(code=b"x = 1"), "must be a string"),
    (RunRequest(code="x = 1", state={"f": object()}), "JSON-safe"),
    (RunRequest(code="x = 1", state={"big": "x" * 300_000}), "state limit"),
])
def test_requests_refused_before_a_worker(pool, request_, message):
    result = pool.run(request_, FakeBroker())
    assert result.status == "refused"
    assert message in result.message


def test_module_level_run_uses_a_default_pool():
    try:
        result = sandbox.run(RunRequest(code="print('hi')"), FakeBroker())
    finally:
        sandbox.close_default()
    assert result.stdout == "hi\n"


def test_a_closed_pool_refuses():
    closed = Sandbox(SandboxConfig(workers=1))
    closed.close()
    assert closed.run(RunRequest(code="x = 1"), FakeBroker()).status == "refused"


def _ended(exit_info, failure=None):
    conv = Conversation(RunRequest(code="", limits=Limits(cpu_seconds=2)), FakeBroker(), 0.0)
    conv.failure = failure
    return judge(conv, exit_info, time.monotonic(), {layer: "active" for layer in LAYERS})


@pytest.mark.parametrize("exit_info, failure, status, words", [
    ({"signal": signal.SIGSYS}, "closed", "killed", "policy violation"),
    ({"signal": signal.SIGXCPU}, "closed", "timeout", "CPU limit of 2 s"),
    ({"signal": signal.SIGKILL}, "closed", "killed", "out of memory"),
    ({"signal": signal.SIGSEGV}, "closed", "killed", "SIGSEGV"),
    ({"exit": 70, "signal": None}, "closed", "killed", "exit status 70"),
    ({"signal": signal.SIGKILL}, "timeout", "timeout", "wall-clock"),
    (None, "protocol: junk", "killed", "protocol"),
])
def test_how_endings_are_judged(exit_info, failure, status, words):
    result = _ended(exit_info, failure)
    assert result.status == status
    assert words in result.message
    assert result.isolation.fallback is False


def _prepared(pool, slots):
    """The pool's prepared workers once every slot in `slots` has one (the refill thread forks
    them in the background after a run)."""
    deadline = time.monotonic() + 20
    while not all(slot in pool._ready for slot in slots):
        assert time.monotonic() < deadline, "no worker was prepared"
        time.sleep(0.01)
    return dict(pool._ready)


def test_each_run_has_a_fresh_worker_forked_and_confined_before_it():
    with Sandbox(SandboxConfig(workers=1)) as one:
        first = _prepared(one, [0])[0]
        # It confined itself and reported its layers before any request existed.
        head = first.sock.recv(1 << 16, socket.MSG_PEEK)
        assert b'"ready"' in head and b'"seccomp"' in head
        assert one.run(RunRequest(code="x = 1"), FakeBroker()).state == {"x": 1}
        second = _prepared(one, [0])[0]
        with pytest.raises(ProcessLookupError):  # used once, reaped before the next was forked: never reused
            os.pidfd_open(first.pid)
        assert second.pid != first.pid
        assert one.run(RunRequest(code="y = 2"), FakeBroker()).state == {"y": 2}


def test_a_clean_result_does_not_wait_for_the_worker_s_exit_and_its_usage_is_the_kernel_s():
    """The answer leaves once the worker reported: its CPU time and peak memory are read from
    /proc, it is killed, and it is reaped before its slot's next worker is forked (decision
    0030r). Without /proc the run waits for the exit and the reap as before, and the worker,
    which waits after its result, is let go by the closed socket, not by `_end_worker`'s kill a
    second later."""
    read = []
    with Sandbox(SandboxConfig(workers=1)) as one, pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool_module, "_clean_ending", lambda worker, read_now=pool_module._clean_ending:
                      read.append(read_now(worker)) or read[-1])
        _prepared(one, [0])
        done = one.run(RunRequest(code="x = sum(range(200000))"), FakeBroker())
        assert done.state == {"x": sum(range(200000))}
        assert read and read[-1] is not None  # read from /proc while the worker waited
        assert done.usage.cpu_seconds == round(read[-1]["cpu_seconds"], 4) > 0
        assert done.usage.max_rss_bytes == read[-1]["max_rss_bytes"] > 4 * 2**20
        _prepared(one, [0])
        assert 0 not in one._ending  # reaped before the next worker was forked
    with Sandbox(SandboxConfig(workers=1)) as one, pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool_module, "_clean_ending", lambda worker: None)
        _prepared(one, [0])
        started = time.monotonic()
        done = one.run(RunRequest(code="x = 1"), FakeBroker())
        assert done.state == {"x": 1} and done.usage.cpu_seconds > 0
        assert time.monotonic() - started < 1.0 and not one._ending


def test_a_prepared_worker_with_other_limits_is_not_used():
    """Prepared workers are confined with the last run's limits; a request with a smaller
    memory limit must get a worker confined with its own (the prepared one would allow 512 MB)."""
    with Sandbox(SandboxConfig(workers=1)) as one:
        _prepared(one, [0])
        small = one.run(RunRequest(code="x = 'a' * (300 * 2**20)", limits=Limits(memory_bytes=200 * 2**20)),
                        FakeBroker())
        assert small.status == "error" and small.error.type == "MemoryError"
        assert one.run(RunRequest(code="x = len('a' * (300 * 2**20))"), FakeBroker()).state == {"x": 300 * 2**20}


def _gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except FileNotFoundError:
        return True


def test_a_closed_pool_leaves_no_prepared_worker():
    closing = Sandbox(SandboxConfig(workers=2))
    prepared = _prepared(closing, [0, 1])
    closing.close()
    deadline = time.monotonic() + 20
    for worker in prepared.values():
        assert worker.sock.fileno() == -1
        while not _gone(worker.pid):
            assert time.monotonic() < deadline, "a prepared worker outlived its pool"
            time.sleep(0.01)


def test_a_closed_pool_s_zygote_removes_its_root_and_exits_cleanly():
    """The zygote leaves by `os._exit` once its control socket closes and its root is removed
    (decision 0030p): exit status 0, the root gone, as when it went through the interpreter's
    teardown."""
    closing = Sandbox(SandboxConfig(workers=1))
    process, root = closing._zygote._process, closing._zygote.root
    assert Path(root).is_dir()
    closing.close()
    assert process.returncode == 0
    assert not Path(root).exists()


def test_a_prepared_zygote_is_taken_by_the_next_pool_and_closed_with_it():
    """`prepare_zygote` boots a zygote before the pool's settings are known (the command
    server's spare copy, decision 0030v): the next pool runs on it instead of starting one, with
    its own settings, and closes it as its own."""
    sandbox.prepare_zygote()
    prepared = pool_module._prepared[-1]
    process, root = prepared._process, prepared.root
    with Sandbox(SandboxConfig(workers=1, slot_wait_seconds=12.0)) as taken:
        assert taken._zygote is prepared and pool_module._prepared == []
        assert taken._zygote._config.slot_wait_seconds == 12.0
        result = taken.run(RunRequest(code="x = 6 * 7"), FakeBroker())
        assert (result.status, result.state) == ("ok", {"x": 42})
    assert process.returncode == 0 and not Path(root).exists()
    with Sandbox(SandboxConfig(workers=1)) as later:  # one prepared zygote serves one pool
        assert later._zygote is not prepared
