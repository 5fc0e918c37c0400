"""The body of one forked worker: confine, say ready, take the request, run it, report, end.

Runs in a child of the zygote and never returns (it ends with `os._exit`). The isolation
report is sent *before* the request (and so before any untrusted input) is read, so the
supervisor learns which layers were active from a message the analyst's code cannot forge.
"""

from __future__ import annotations

import os
import socket
import warnings
from typing import Any

from sandbox import execution, isolation, wire
from sandbox.contract import Limits
from sandbox.tables import QueryRefused

REQUEST_CAP = 4 * 1024 * 1024
ANSWER_SLACK = 64 * 1024


class ChannelClient:
    """Sends plans to the supervisor over the worker's socket; one frame out, one back."""

    def __init__(self, sock: socket.socket, limits: Limits):
        self._sock = sock
        self._limits = limits

    def ask(self, plan: dict[str, Any]) -> dict[str, Any]:
        # The query cap is counted by the supervisor, where the analyst cannot reset it.
        wire.send(self._sock, {"t": "plan", "plan": plan})
        reply = wire.receive(self._sock, self._limits.result_bytes + ANSWER_SLACK)
        answer = reply.get("answer") if type(reply) is dict else None
        if type(answer) is not dict:
            raise QueryRefused("protocol", "malformed answer")
        if answer.get("status") != "ok":
            raise QueryRefused(str(answer.get("rule", "refused")), str(answer.get("reason", "")))
        return answer


def fit(report: dict[str, Any], cap: int) -> dict[str, Any]:
    """Shrink a report to `cap` bytes of JSON: drop state, then outputs, then cut stdout."""
    for drop in ("state", "outputs", "stdout"):
        if len(wire.encode(report)) <= cap:
            return report
        report = {**report, drop: "" if drop == "stdout" else ([] if drop == "outputs" else {})}
        report["message"] = report["message"] + f"; {drop} dropped: the result was over {cap} bytes"
    return report


def _run(sock: socket.socket, spec: isolation.Confinement) -> None:
    report = isolation.confine(spec)
    warnings.simplefilter("ignore")
    wire.send(sock, {"t": "ready", "isolation": report})
    request = wire.receive(sock, REQUEST_CAP)
    limits = Limits(**request["limits"])
    outcome = execution.execute(request, ChannelClient(sock, limits), limits)
    wire.send(sock, {"t": "result", **fit(outcome, limits.result_bytes)})
    # Wait, spending nothing, until the supervisor has read this process's CPU time and peak
    # memory from the kernel and killed it, or has closed the socket: exiting at once made the
    # answer wait for this process's teardown, or lost the peak memory with its address space
    # before the supervisor could read it (decision 0030r).
    sock.recv(1)


def serve(sock_fd: int, spec: isolation.Confinement) -> None:
    """Entry point of the forked child. Never returns."""
    status = 0
    try:
        # Wrap the descriptor now: socket() asks the kernel for its type, which seccomp forbids.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=sock_fd)
        _run(sock, spec)
    except BaseException:  # noqa: BLE001 - any failure ends the worker; the supervisor reports it
        status = 70
    finally:
        os._exit(status)
