"""One run inside the (already confined) worker: compile, exec under the policy, report.

Everything the analyst's code can raise is caught here, `BaseException` included
(`SystemExit` and `KeyboardInterrupt` are in RestrictedPython's safe builtins). The report is
a plain dict that the worker sends as one frame; the supervisor re-checks all of it.
"""

from __future__ import annotations

import traceback
from typing import Any

from sandbox import expressions, state
from sandbox.contract import Limits
from sandbox.outputs import OutputLog, Printer
from sandbox.policy import FILENAME, CompileFailure, Hooks, compile_source, restricted_globals
from sandbox.tables import QueryClient, QueryRefused, dataset_factory

EXPRESSION_NAMES = ("col", "lit", "count", "count_distinct", "sum", "mean", "median", "min",
                    "max", "quantile", "std")


def api_names(client: QueryClient, log: OutputLog) -> dict[str, Any]:
    """The data and output functions analyst code sees as builtins."""
    names = {name: getattr(expressions, name) for name in EXPRESSION_NAMES}
    names.update(dataset=dataset_factory(client), show=log.show, chart=log.chart,
                 QueryRefused=QueryRefused)
    return names


def _error_line(exc: BaseException) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == FILENAME:
            line = lineno
    return line


def _describe(exc: BaseException) -> dict[str, Any]:
    try:
        message = str(exc)[:2000]
    except Exception:  # noqa: BLE001 - a hostile __str__ must not break the report
        message = "(message unavailable)"
    if isinstance(exc, MemoryError):
        message = message or "memory limit reached"
    return {"type": type(exc).__name__[:100], "message": message, "line": _error_line(exc)}


def _outcome(exc: BaseException | None) -> tuple[str, str, dict[str, Any] | None]:
    # The views translate these two messages by their fixed English part (portal/analysis/notes.py,
    # RUN_FINISHED and QUERY_REFUSED): change them there too.
    if exc is None:
        return "ok", "run finished", None
    error = _describe(exc)
    if isinstance(exc, QueryRefused):
        return "refused", f"a query was refused: {exc.reason}", error
    where = f" on line {error['line']}" if error["line"] else ""
    return "error", f"{error['type']}{where}: {error['message']}", error


def execute(request: dict[str, Any], client: QueryClient, limits: Limits) -> dict[str, Any]:
    """Run one request; always returns a report dict (never raises)."""
    try:
        code = compile_source(request["code"])
    except CompileFailure as failure:
        error = {"type": failure.kind, "message": failure.message, "line": failure.line}
        where = f" on line {failure.line}" if failure.line else ""
        return {"status": "error", "message": f"{failure.kind}{where}: {failure.message}",
                "error": error, "stdout": "", "outputs": [], "state": request.get("state")}
    printer, log = Printer(limits.output_bytes), OutputLog(limits)
    names = api_names(client, log)
    env = restricted_globals(Hooks(printer=printer, names=names))
    env.update(state.import_state(request.get("state"), client))
    failure: BaseException | None = None
    try:
        exec(code, env)  # noqa: S102 - RestrictedPython-compiled code with every hook bound
    except BaseException as exc:  # noqa: BLE001 - SystemExit etc. belong to the run
        failure = exc
    if isinstance(failure, MemoryError):
        env.clear()  # free what the run holds so the report itself can be built
    status, message, error = _outcome(failure)
    kept, skipped = state.export_state(env, set(names), limits.state_bytes)
    if skipped:
        message += "; not kept between runs (not JSON-safe or too large): " + ", ".join(
            skipped[:20])
    if log.dropped:
        message += f"; {log.dropped} outputs over the cap of {limits.outputs} were dropped"
    return {"status": status, "message": message, "error": error, "stdout": printer.text(),
            "outputs": log.items, "state": kept}
