"""The warm pool the portal calls: one zygote, N worker slots, thread-safe `Sandbox.run`.

Each run takes a slot (its own unprivileged uid, 60000 + slot, so RLIMIT_NPROC and signals
are per slot), asks the zygote to fork a worker holding one end of a fresh socketpair, talks
to it (sandbox/supervisor.py), kills it on the wall clock through a pidfd (no pid-reuse race:
the zygote reaps only when asked), and asks the zygote to reap it. A worker that crashes, is
killed or runs out of memory simply ends; the next run forks a new one. If the zygote itself
dies it is restarted. Nothing here blocks forever: slots, spawns and the run are all timed.
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
        self._start()

    def _start(self) -> None:
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
        """For tests and shutdown: end the zygote abruptly."""
        with self._lock:
            if self._process is not None:
                self._process.kill()

    def close(self) -> None:
        with self._lock:
            self._stop()


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


class Sandbox:
    """A warm pool of confined workers. Thread-safe; call `close()` when done."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.config.workers):
            self._slots.put(slot)
        self._zygote = Zygote(self.config)
        self._closed = False
        self.required = frozenset(self.config.layers) - frozenset(self.config.allow_missing)
        if self.config.allow_missing:
            log.warning("sandbox isolation override: runs proceed without %s (allowed by the operator)",
                        ", ".join(sorted(self.config.allow_missing)))
        self.isolation = self._probe()

    def _probe(self) -> dict[str, str]:
        """One trivial run at start: learn which layers are active, and warn loudly if any not."""
        self._expected = {layer: "unknown" for layer in LAYERS}
        probe = RunRequest(code="probe = 1", run_id="isolation-probe")
        slot = self._slots.get(timeout=self.config.slot_wait_seconds)
        try:
            result = self._run_in_slot(slot, probe, _NoData(), frozenset())
        finally:
            self._slots.put(slot)
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
        finally:
            self._slots.put(slot)

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
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with ours:
            with theirs:
                reply = self._zygote.call({"op": "spawn", "spec": self._spec(slot, request)},
                                          (theirs.fileno(),))
            if "pid" not in reply:
                raise SandboxError(f"the zygote could not fork a worker: {reply}")
            pidfd = os.pidfd_open(reply["pid"])
            try:
                conv = supervisor.Conversation(request, broker,
                                               started + request.limits.wall_seconds, required)
                supervisor.converse(ours, conv)
                _end_worker(pidfd, conv)
            finally:
                os.close(pidfd)
        exit_info = self._reap(reply["pid"])
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

    def close(self) -> None:
        self._closed = True
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
