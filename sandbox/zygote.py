"""The zygote: a fresh interpreter, warmed up before any secret exists, that forks workers.

The supervisor starts it with `python -I`, an empty environment and only its control socket
(sandbox/pool.py), so it never holds the portal's configuration, database handles or
credentials. It imports RestrictedPython, pyseccomp and the worker code, runs one warm-up
program (so no lazy import happens later inside a chroot), makes an empty 0555 root directory,
then serves a tiny request/response protocol of JSON datagrams on a SOCK_SEQPACKET socket:

- {"op": "spawn", "spec": {...}} + one descriptor (the worker's end of its socket) -> {"pid"}
- {"op": "reap", "pid": n} -> {"pid", "exit", "signal", "cpu_seconds", "max_rss_bytes"}
- {"op": "ping"} -> {"ok": true, "root": path}

It stays single-threaded (it forks), and exits when the control socket closes (by `os._exit`,
once its root is removed: nothing of its own is left to finalise).
"""

from __future__ import annotations

import codecs
import os
import resource
import shutil
import socket
import sys
import tempfile
from typing import Any

from sandbox import execution, isolation, wire, worker
from sandbox.contract import Limits

WARM_UP = """
import math, statistics, datetime, itertools, functools, collections, re, json, decimal
import fractions, random
values = [random.random() for _ in range(50)]
print(f"{statistics.mean(values):.3f}", json.dumps({"a": [1, 2]}), re.sub("a", "b", "aa"))
print(decimal.Decimal("1.1") + 1, fractions.Fraction(1, 3), datetime.date(2024, 1, 2).isoformat())
moment = datetime.datetime.strptime("2024-01-02 03:04", "%Y-%m-%d %H:%M")
print(moment.strftime("%d.%m.%Y"), moment.timetuple().tm_yday, f"{decimal.Decimal('1.5'):.2f}")
print("汉字".encode("gbk"), "x".encode("utf-16"))
class Point:
    pass
for a, b in [(1, 2)]:
    total = a + b
total += 1
try:
    1 / 0
except ZeroDivisionError as exc:
    reason = str(exc)
table = dataset("warm-up").filter(col("x") >= 1).group_by("k").agg(count(), mean("x"))
show(table.collect())
show(table)
"""


class _NoBroker:
    def ask(self, plan: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok", "columns": [], "rows": [], "count": 0}


ENCODINGS = ("gbk", "gb18030", "gb2312", "big5", "utf-16", "utf-32", "latin-1", "ascii",
             "cp1252", "utf-8-sig")


def warm_up() -> None:
    """Exercise every code path once so later runs need no file system access."""
    for encoding in ENCODINGS:
        codecs.lookup(encoding)
    execution.execute({"code": WARM_UP, "state": None}, _NoBroker(), Limits())
    execution.execute({"code": "x = (", "state": None}, _NoBroker(), Limits())
    execution.execute({"code": "undefined_name", "state": None}, _NoBroker(), Limits())
    wire.decode(wire.encode({"warm": [1, 2.5, None, "up"]}))


def make_root() -> str:
    root = tempfile.mkdtemp(prefix="kaifang-sandbox-root-")
    os.chmod(root, 0o555)  # noqa: S103 - read+search only, for the chroot
    return root


def _spawn(spec: dict[str, Any], fd: int, root: str, control_fd: int) -> dict[str, Any]:
    confinement = isolation.Confinement(
        uid=int(spec["uid"]), root=root, cpu_seconds=int(spec["cpu_seconds"]),
        memory_bytes=int(spec["memory_bytes"]), open_files=int(spec["open_files"]),
        keep_fds=(fd,), layers=frozenset(spec["layers"]))
    pid = os.fork()
    if pid == 0:
        os.close(control_fd)
        worker.serve(fd, confinement)
    os.close(fd)
    return {"pid": pid}


def _reap(pid: int) -> dict[str, Any]:
    _, status, usage = os.wait4(pid, 0)
    return {"pid": pid,
            "exit": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_bytes": usage.ru_maxrss * 1024}


def _handle(message: dict[str, Any], fds: list[int], root: str,
            control_fd: int) -> dict[str, Any]:
    op = message.get("op")
    if op == "spawn" and len(fds) == 1:
        return _spawn(message["spec"], fds[0], root, control_fd)
    for fd in fds:
        os.close(fd)
    if op == "reap":
        return _reap(int(message["pid"]))
    if op == "ping":
        return {"ok": True, "root": root}
    return {"error": f"unknown op {op!r}"}


def serve(control: socket.socket, root: str) -> None:
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        if not data:
            return
        try:
            reply = _handle(wire.decode(data), list(fds), root, control.fileno())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        control.send(wire.encode(reply))


def main(control_fd: int) -> None:
    """Entry point (see pool.ZYGOTE_BOOT)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    warm_up()
    root = make_root()
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=control_fd)
    try:
        control.send(wire.encode({"ready": True, "root": root, "python": sys.version}))
        serve(control, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # Closed cleanly: leave without the interpreter's teardown (~30 ms, RestrictedPython and the
    # warmed-up modules finalised), which the pool's `close` waits for (decision 0030p). Its
    # workers die with it either way (parent-death signal); an error above exits as before.
    sys.stderr.flush()
    os._exit(0)
