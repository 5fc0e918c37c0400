"""The trusted end of one run's socket: relay plans to the broker, then judge the outcome.

`converse` talks to one worker until it reports, breaks the protocol, closes, or the wall
clock runs out. Every plan is validated (sandbox/plan.py), checked against the run's grants and
counted against the query cap *here*, before the broker sees it. `judge` turns what happened
(the worker's report, how the process ended) into a `RunResult`; nothing the worker says is
trusted without re-checking its shape.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox import wire
from sandbox.contract import (
    DataBroker,
    Isolation,
    Limits,
    ResourceUse,
    RunError,
    RunRequest,
    RunResult,
)
from sandbox.isolation import fully_confined, missing_layers
from sandbox.plan import PlanError, datasets_named, validate_plan
from sandbox.rendering import OutputRejected, normalize_outputs

log = logging.getLogger(__name__)
PLAN_CAP = 256 * 1024
MAX_RECORDS = 100
FRAME_SLACK = 64 * 1024


@dataclass
class Conversation:
    """Mutable bookkeeping of one run while it is in flight (never returned to callers)."""

    request: RunRequest
    broker: DataBroker
    deadline: float
    required: frozenset[str] = frozenset()
    isolation: dict[str, str] | None = None
    report: dict[str, Any] | None = None
    failure: str | None = None
    queries: int = 0
    released: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)


def _refusal(conv: Conversation, names: list[str], rule: str, reason: str, detail: Any = None) -> dict[str, Any]:
    """`detail`: the broker's word on which of a rule's cases refused (the result's record only)."""
    if len(conv.refused) < MAX_RECORDS:  # a loop of caught refusals must not grow the result
        conv.refused.append({"query": conv.queries, "datasets": names, "rule": rule, "reason": reason,
                             **({"detail": detail[:40]} if isinstance(detail, str) and detail else {})})
    return {"status": "refused", "rule": rule, "reason": reason}


def _ask_broker(conv: Conversation, plan: dict[str, Any], names: list[str]) -> dict[str, Any]:
    try:
        answer = conv.broker.execute(plan)
        size = len(wire.encode(answer))
    except PlanError as exc:
        return _refusal(conv, names, "plan", str(exc))
    except Exception:  # noqa: BLE001 - the broker's failure must not reach the worker in detail
        log.exception("sandbox broker failed on run %s", conv.request.run_id)
        return _refusal(conv, names, "broker-error", "the data service could not answer")
    if type(answer) is not dict or answer.get("status") not in ("ok", "refused"):
        return _refusal(conv, names, "broker-error", "the data service gave no valid answer")
    if size > conv.request.limits.result_bytes:
        return _refusal(conv, names, "too-large", "the answer is larger than a run may receive")
    if answer["status"] == "refused":
        return _refusal(conv, names, str(answer.get("rule", "refused")),
                        str(answer.get("reason", "")), answer.get("detail"))
    rows = answer.get("rows")
    conv.released.append({"query": conv.queries, "datasets": names, "action": plan["action"],
                          "rows": len(rows) if type(rows) is list else None,
                          "notes": answer.get("notes", [])})
    return answer


def _refused_here(conv: Conversation, plan: Any, names: list[str], rule: str, reason: str) -> dict[str, Any]:
    """A refusal before the broker is asked, told to the broker when it keeps an audit
    (`DataBroker.refused_before`), so that its log holds every query the run made."""
    told = getattr(conv.broker, "refused_before", None)
    if callable(told) and len(conv.refused) < MAX_RECORDS:
        told(plan, rule, reason)
    return _refusal(conv, names, rule, reason)


def relay(conv: Conversation, plan: Any) -> dict[str, Any]:
    """Everything between a worker's plan and the broker: cap, shape, grants, then ask."""
    conv.queries += 1
    if conv.queries > conv.request.limits.queries:
        return _refused_here(conv, plan, [], "query-cap",
                             f"more than {conv.request.limits.queries} queries in one run")
    try:
        validate_plan(plan)
    except PlanError as exc:
        return _refused_here(conv, plan, [], "plan", str(exc))
    names = datasets_named(plan)
    missing = sorted(set(names) - set(conv.request.grants))
    if missing:
        return _refused_here(conv, plan, names, "grant", f"this run may not use dataset {missing[0]!r}")
    return _ask_broker(conv, plan, names)


def _exchange(sock: socket.socket, conv: Conversation) -> None:
    limits = conv.request.limits
    ready = wire.receive(sock, PLAN_CAP, conv.deadline)
    if type(ready) is not dict or ready.get("t") != "ready":
        raise wire.WireError("expected the worker's ready message")
    conv.isolation = {str(k): str(v) for k, v in dict(ready.get("isolation", {})).items()}
    missing = missing_layers(conv.isolation, conv.required)
    if missing:  # fail closed: the code is never sent to a worker that is not confined
        conv.failure = "isolation: " + "; ".join(missing)
        return
    set_deadline = getattr(conv.broker, "set_deadline", None)
    if callable(set_deadline):  # optional: lets the broker stop its own work at the deadline
        set_deadline(conv.deadline)
    wire.send(sock, {"code": conv.request.code, "state": conv.request.state,
                     "limits": limits.to_dict()})
    while True:
        message = wire.receive(sock, limits.result_bytes + FRAME_SLACK, conv.deadline)
        kind = message.get("t") if type(message) is dict else None
        if kind == "result":
            conv.report = message
            return
        if kind != "plan":
            raise wire.WireError("unexpected message from the worker")
        if len(wire.encode(message)) > PLAN_CAP:
            conv.queries += 1
            answer = _refusal(conv, [], "plan", f"the plan is larger than {PLAN_CAP} bytes")
        else:
            answer = relay(conv, message.get("plan"))
        wire.send(sock, {"t": "answer", "answer": answer})
        if time.monotonic() > conv.deadline:
            raise TimeoutError("wall clock")


def converse(sock: socket.socket, conv: Conversation) -> Conversation:
    """Run the exchange; record why it stopped early in `conv.failure`."""
    try:
        _exchange(sock, conv)
    except TimeoutError:
        conv.failure = "timeout"
    except wire.PeerClosed:
        conv.failure = "closed"
    except wire.WireError as exc:
        conv.failure = f"protocol: {exc}"
    except OSError:
        conv.failure = "closed"
    return conv


def _error(raw: Any) -> RunError | None:
    if type(raw) is not dict:
        return None
    line = raw.get("line")
    return RunError(type=str(raw.get("type", "Error"))[:100],
                    message=str(raw.get("message", ""))[:2000],
                    line=line if type(line) is int else None)


def _from_report(conv: Conversation, base: dict[str, Any]) -> RunResult:
    report, limits = conv.report or {}, conv.request.limits
    status = report.get("status")
    state = report.get("state")
    try:
        outputs = normalize_outputs(report.get("outputs", []), limits)
    except OutputRejected as exc:
        return RunResult(status="error", message=f"the run reported invalid outputs: {exc}",
                         **base)
    if status not in ("ok", "error", "refused"):
        return RunResult(status="error", message="the run reported an unknown status", **base)
    return RunResult(status=status, message=str(report.get("message", ""))[:4000],
                     stdout=str(report.get("stdout", ""))[: limits.output_bytes + 100],
                     outputs=outputs, error=_error(report.get("error")),
                     state=state if type(state) is dict else None, **base)


def _ending(conv: Conversation, exit_info: dict[str, Any] | None, limits: Limits) -> tuple:
    signum = (exit_info or {}).get("signal")
    if conv.failure and conv.failure.startswith("isolation"):
        return "refused", (f"not run: sandbox isolation layers are missing on this server "
                           f"({conv.failure.removeprefix('isolation: ')}); see docs/sandbox.md")
    if conv.failure == "timeout":
        return "timeout", f"stopped: the wall-clock limit of {limits.wall_seconds:g} s was reached"
    if signum == signal.SIGXCPU:
        return "timeout", f"stopped: the CPU limit of {limits.cpu_seconds} s was reached"
    if signum == signal.SIGSYS:
        return "killed", "killed: policy violation (a forbidden system call)"
    if signum == signal.SIGKILL:
        return "killed", "killed by the kernel (CPU hard limit or out of memory)"
    if signum:
        return "killed", f"the worker died with signal {signal.Signals(signum).name}"
    if conv.failure and conv.failure.startswith("protocol"):
        return "killed", "killed: the worker broke the protocol"
    code = (exit_info or {}).get("exit")
    return "killed", f"the worker ended without a result (exit status {code})"


def judge(conv: Conversation, exit_info: dict[str, Any] | None, started: float,
          fallback_isolation: dict[str, str]) -> RunResult:
    """The RunResult for a finished conversation and the worker's exit information."""
    layers = conv.isolation or fallback_isolation
    info = exit_info or {}
    base = {
        "released": tuple(conv.released), "refused": tuple(conv.refused),
        "usage": ResourceUse(cpu_seconds=round(float(info.get("cpu_seconds", 0.0)), 4),
                             wall_seconds=round(time.monotonic() - started, 4),
                             max_rss_bytes=int(info.get("max_rss_bytes", 0))),
        "isolation": Isolation(layers=dict(layers), fallback=not fully_confined(layers)),
        "run_id": conv.request.run_id,
    }
    if conv.report is not None and conv.failure is None:
        return _from_report(conv, base)
    status, message = _ending(conv, exit_info, conv.request.limits)
    return RunResult(status=status, message=message, **base)
