"""The warm pool the portal calls: one zygote, N worker slots, thread-safe `Sandbox.run`.

Each run takes a slot (its own unprivileged uid, 60000 + slot, so RLIMIT_NPROC and signals
are per slot) and a fresh worker the zygote forked for that slot, holding one end of a fresh
socketpair; it talks to it (sandbox/supervisor.py), kills it on the wall clock through a pidfd
(no pid-reuse race: the zygote reaps only when asked), and asks the zygote to reap it. A worker
that crashes, is killed or runs out of memory simply ends. If the zygote itself dies it is
restarted. Nothing here blocks forever: slots, spawns and the run are all timed.

A worker runs one request and exits; it is never reused. What is done ahead is only its birth:
once a slot's worker has been reaped, a background thread asks the zygote for the slot's next
worker before the slot is offered again, so the fork and the confinement (namespaces, chroot,
uid, seccomp: most of a trivial run's time) happen between runs instead of inside one. That
worker confines itself and reports its layers exactly as before, then waits, holding nothing
but its socket, for a request it has not seen; the supervisor still reads that report first and
refuses to send code to a worker that is not confined. Only one worker of a slot is alive at a
time (the next is forked after the last is reaped), so the per-slot uid still separates runs.
A prepared worker whose limits differ from the request's, or whose zygote has gone, is killed
and replaced on the spot (docs/decisions/0023b).
"""

from __future__ import annotations

import logging
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import supervisor, wire
from sandbox.contract import DataBroker, Isolation, RunRequest, RunResult
from sandbox.isolation import LAYERS, fully_confined, missing_layers

log = logging.getLogger(__name__)
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
ZYGOTE_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
               "from sandbox.zygote import main; main(int(sys.argv[2]))")


class SandboxError(Exception):
    """The pool itself failed (zygote would not start or answer)."""


class IsolationWarning(UserWarning):
    """An OS isolation layer is not active on this machine; runs are less contained."""


@dataclass(frozen=True)
class SandboxConfig:
    """Pool settings. `layers` are the OS layers to apply; each of them must be active for
    code to run (fail closed) unless named in `allow_missing`, the operator's explicit
    override, which is logged at start and on every run that uses it."""

    workers: int = 2
    base_uid: int = 60000
    layers: frozenset[str] = frozenset(LAYERS)
    allow_missing: frozenset[str] = frozenset()
    slot_wait_seconds: float = 30.0
    start_seconds: float = 20.0
    python: str = sys.executable


class Zygote:
    """Handle on the zygote process; `call` is one locked request/response."""

    def __init__(self, config: SandboxConfig):
        self._config = config
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self.root = ""
        self.generation = 0  # which zygote process this is: workers of an earlier one are gone
        self._start()

    def alive(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    def _start(self) -> None:
        self.generation += 1
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
                [self._config.python, "-I", "-c", ZYGOTE_BOOT, PACKAGE_PARENT,
                 str(theirs.fileno())],
                env={}, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),))
        self._control = ours
        ours.settimeout(self._config.start_seconds)
        try:
            hello = wire.decode(ours.recv(1 << 16))
        except (OSError, wire.WireError) as exc:
            self._stop()
            raise SandboxError(f"the sandbox zygote did not start: {exc}") from exc
        if not hello.get("ready"):
            raise SandboxError("the sandbox zygote did not start")
        self.root = hello["root"]

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self.root:  # normally removed by the zygote; not if it was killed
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = ""

    def _exchange(self, message: dict[str, Any], fds: tuple[int, ...]) -> dict[str, Any]:
        assert self._control is not None
        self._control.settimeout(self._config.start_seconds)
        socket.send_fds(self._control, [wire.encode(message)], list(fds))
        data = self._control.recv(1 << 16)
        if not data:
            raise wire.PeerClosed("zygote closed")
        return wire.decode(data)

    def call(self, message: dict[str, Any], fds: tuple[int, ...] = ()) -> dict[str, Any]:
        """Send one request; a dead zygote is restarted and the request retried once."""
        with self._lock:
            try:
                return self._exchange(message, fds)
            except (OSError, wire.WireError):
                if message.get("op") == "reap":
                    raise
                log.warning("sandbox zygote is gone; restarting it")
                self._stop()
                self._start()
                return self._exchange(message, fds)

    def kill(self) -> None:
        """For tests and shutdown: end the zygote abruptly (returns once it has ended, so its
        workers have been sent their parent-death signal)."""
        with self._lock:
            if self._process is not None:
                self._process.kill()
                self._process.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()


_prepared: list[Zygote] = []


def prepare_zygote() -> None:
    """Boot a zygote now for this process's first pool, before its configuration is known: a
    zygote takes no setting (a fresh interpreter, empty environment), so a process that waits
    for work (portal/command_server.py) spends its boot time before the work arrives."""
    _prepared.append(Zygote(SandboxConfig()))


def _take_prepared(config: SandboxConfig) -> Zygote | None:
    if not _prepared or _prepared[0]._config.python != config.python:
        return None
    zygote = _prepared.pop()
    zygote._config = config  # its timeouts; a dead one is restarted by `call` as any other
    return zygote


def _wait_exit(pidfd: int, seconds: float) -> bool:
    readable, _, _ = select.select([pidfd], [], [], seconds)
    return bool(readable)


def _end_worker(pidfd: int, conv: supervisor.Conversation) -> None:
    """Make sure the worker is gone: a clean one gets a moment to exit, others are killed."""
    if conv.failure is None and _wait_exit(pidfd, 1.0):
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        return
    _wait_exit(pidfd, 5.0)


def _clean_ending(worker: _Worker) -> dict[str, Any] | None:
    """For a worker whose result came in cleanly: its CPU time and peak memory as the kernel
    counts them now (`/proc`, as `wait4` would report them after its exit), then SIGKILL, so it
    spends nothing uncounted afterwards; None (and the worker left alone) when `/proc` does not
    tell, and the run waits for the exit and the reap as before.

    The run's answer does not wait for the worker's exit: its teardown (the namespaces it made,
    the mount namespace's among them) and the zygote's reap were 3-4 ms of a 6 ms trivial run on
    a loaded 2-core machine (decision 0030r). The worker is reaped before its slot's next one is
    forked, so one worker per slot is alive at a time, as before. The worker cannot start a
    thread (seccomp forbids clone), so its main thread's run time is the process's."""
    try:
        with open(f"/proc/{worker.pid}/schedstat") as stats:
            cpu_ns = int(stats.read().split()[0])
        with open(f"/proc/{worker.pid}/status") as status:
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, ValueError, IndexError, StopIteration):  # gone already (no memory map), or no /proc
        return None
    try:
        signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return {"cpu_seconds": cpu_ns / 1e9, "max_rss_bytes": peak_kb * 1024}


@dataclass
class _Worker:
    """A forked worker of one slot: its pid, a pidfd on it, our end of its socket, the spec it
    was confined with and the zygote generation that forked it."""

    pid: int
    pidfd: int
    sock: socket.socket
    spec: dict[str, Any]
    generation: int

    def exited(self) -> bool:
        return _wait_exit(self.pidfd, 0)

    def close(self) -> None:
        self.sock.close()
        os.close(self.pidfd)


class Sandbox:
    """A warm pool of confined workers. Thread-safe; call `close()` when done."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._slots: queue.Queue[int] = queue.Queue()
        # Slots whose next worker is to be forked, then offered again (by `_refill`). A slot's
        # prepared worker in `_ready` is touched only by whoever holds the slot.
        self._refills: queue.SimpleQueue[tuple[int, dict[str, Any]] | None] = queue.SimpleQueue()
        self._ready: dict[int, _Worker] = {}
        # A slot's last worker, killed once its clean result was in but not yet reaped: reaped
        # before the slot's next worker is forked (`_end_last`), by the refill or the next run.
        self._ending: dict[int, _Worker] = {}
        self._zygote = _take_prepared(self.config) or Zygote(self.config)
        self._closed = False
        self.required = frozenset(self.config.layers) - frozenset(self.config.allow_missing)
        if self.config.allow_missing:
            log.warning("sandbox isolation override: runs proceed without %s (allowed by the operator)",
                        ", ".join(sorted(self.config.allow_missing)))
        self.isolation = self._probe()
        self._refiller = threading.Thread(target=self._refill, name="kaifang-sandbox-refill", daemon=True)
        self._refiller.start()
        for slot in range(self.config.workers):
            self._refills.put((slot, self._spec(slot, RunRequest(code=""))))

    def _probe(self) -> dict[str, str]:
        """One trivial run at start: learn which layers are active, and warn loudly if any not."""
        self._expected = {layer: "unknown" for layer in LAYERS}
        probe = RunRequest(code="probe = 1", run_id="isolation-probe")
        result = self._run_in_slot(0, probe, _NoData(), frozenset())  # no slot is offered yet
        layers = dict(result.isolation.layers)
        if not fully_confined(layers):
            missing = missing_layers(layers, set(LAYERS))
            text = "sandbox isolation layers not active: " + "; ".join(missing)
            log.warning(text)
            warnings.warn(text, IsolationWarning, stacklevel=3)
        self._expected = layers
        return layers

    def unconfined(self) -> list[str]:
        """The required layers the start probe found missing: runs are refused while any is."""
        return missing_layers(self.isolation, self.required)

    def run(self, request: RunRequest, broker: DataBroker) -> RunResult:
        """Run one request. Never raises for anything the analyst's code does."""
        refusal = _precheck(request)
        if refusal is not None:
            return refusal
        if self._closed:
            return _refused(request, "the sandbox is closed")
        missing = self.unconfined()
        if missing:
            return _refused(request, "not run: sandbox isolation layers are missing on this server ("
                            + "; ".join(missing) + "); see docs/sandbox.md")
        try:
            slot = self._slots.get(timeout=self.config.slot_wait_seconds)
        except queue.Empty:
            return _refused(request, "all sandbox workers are busy; try again shortly")
        try:
            return self._run_in_slot(slot, request, broker, self.required)
        finally:  # offered again once its next worker is forked (the last one is reaped by now)
            self._refills.put((slot, self._spec(slot, request)))

    def _refill(self) -> None:
        """Background thread: fork each returned slot's next worker, then offer the slot. A
        failure here only means the next run of the slot forks its worker itself."""
        while (item := self._refills.get()) is not None:
            slot, spec = item
            try:
                self._end_last(slot)
                if not self._closed and slot not in self._ready:
                    self._ready[slot] = self._spawn(spec)
            except Exception:  # noqa: BLE001 - the run that takes the slot spawns (and reports) itself
                log.warning("sandbox: could not prepare a worker for slot %s", slot, exc_info=True)
            finally:
                self._slots.put(slot)

    def _spawn(self, spec: dict[str, Any]) -> _Worker:
        """Ask the zygote to fork a worker with `spec`; it confines itself and reports at once."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with theirs:
                reply = self._zygote.call({"op": "spawn", "spec": spec}, (theirs.fileno(),))
            if "pid" not in reply:
                raise SandboxError(f"the zygote could not fork a worker: {reply}")
            return _Worker(reply["pid"], os.pidfd_open(reply["pid"]), ours, spec, self._zygote.generation)
        except BaseException:
            ours.close()
            raise

    def _worker_for(self, slot: int, spec: dict[str, Any]) -> _Worker:
        """The slot's prepared worker if it was confined with `spec` and is still there, else
        a worker forked now (the prepared one is killed and reaped first)."""
        self._end_last(slot)  # the refill did not run (it failed, or this is the start probe)
        ready = self._ready.pop(slot, None)
        if ready is not None and (ready.spec != spec or ready.generation != self._zygote.generation
                                  or not self._zygote.alive() or ready.exited()):
            self._discard(ready)
            ready = None
        return ready or self._spawn(spec)

    def _discard(self, worker: _Worker) -> None:
        try:
            signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)
            _wait_exit(worker.pidfd, 5.0)
        except ProcessLookupError:
            pass
        finally:
            worker.close()
        if worker.generation == self._zygote.generation:
            self._reap(worker.pid)

    def _spec(self, slot: int, request: RunRequest) -> dict[str, Any]:
        limits = request.limits
        return {"uid": self.config.base_uid + slot, "cpu_seconds": limits.cpu_seconds,
                "memory_bytes": limits.memory_bytes, "open_files": limits.open_files,
                "layers": sorted(self.config.layers)}

    def _run_in_slot(self, slot: int, request: RunRequest, broker: DataBroker,
                     required: frozenset[str]) -> RunResult:
        if self._closed:
            return _refused(request, "the sandbox is closed")
        started = time.monotonic()
        worker = self._worker_for(slot, self._spec(slot, request))
        conv = supervisor.Conversation(request, broker, started + request.limits.wall_seconds, required)
        exit_info = None
        try:
            supervisor.converse(worker.sock, conv)
            if conv.failure is None and conv.report is not None:
                exit_info = _clean_ending(worker)
            if exit_info is None:
                worker.sock.close()  # a worker that reported waits for this to exit (sandbox/worker.py)
                _end_worker(worker.pidfd, conv)
        finally:
            if exit_info is None:
                worker.close()
            else:  # killed already; reaped before the slot's next worker is forked
                self._ending[slot] = worker
        if exit_info is None:
            exit_info = self._reap(worker.pid)
        result = supervisor.judge(conv, exit_info, started, self._expected)
        if result.isolation.fallback and conv.report is not None:
            log.warning("sandbox run %s ran with isolation layers missing, under the operator's override: %s",
                        request.run_id, "; ".join(missing_layers(result.isolation.layers, set(LAYERS))))
        return result

    def _reap(self, pid: int) -> dict[str, Any] | None:
        try:
            return self._zygote.call({"op": "reap", "pid": pid})
        except (OSError, wire.WireError):
            return None

    def _end_last(self, slot: int) -> None:
        """Reap the slot's last worker if its run returned before it had exited (`_clean_ending`)."""
        worker = self._ending.pop(slot, None)
        if worker is None:
            return
        try:
            _wait_exit(worker.pidfd, 5.0)
        finally:
            worker.close()
        if worker.generation == self._zygote.generation:
            self._reap(worker.pid)

    def close(self) -> None:
        self._closed = True
        self._refills.put(None)
        self._refiller.join(timeout=self.config.start_seconds)
        for slot in list(self._ready):
            self._ready.pop(slot).close()  # the workers die with the zygote (parent-death signal)
        for slot in list(self._ending):
            self._ending.pop(slot).close()  # killed already; the zygote reaps them as it exits
        self._zygote.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoData:
    def execute(self, plan: dict[str, Any]) -> dict[str, Any]:
        return {"status": "refused", "rule": "probe", "reason": "no data during the probe"}


def _refused(request: RunRequest, message: str) -> RunResult:
    return RunResult(status="refused", message=message, run_id=request.run_id,
                     isolation=Isolation(layers={}, fallback=True))


def _precheck(request: RunRequest) -> RunResult | None:
    """Refuse what must not even reach a worker: non-str code, oversize source, bad state."""
    if type(request.code) is not str:
        return _refused(request, "code must be a string")
    size = len(request.code.encode("utf-8", "surrogatepass"))
    if size > request.limits.source_bytes:
        return _refused(request, f"the source is {size} bytes; the limit is "
                                 f"{request.limits.source_bytes}")
    if request.state is not None:
        try:
            encoded = wire.encode(request.state)
        except (TypeError, ValueError):
            return _refused(request, "state must be JSON-safe")
        if type(request.state) is not dict or len(encoded) > request.limits.state_bytes:
            return _refused(request, "state must be a JSON object within the state limit")
    return None
