"""Kaifang's untrusted-code runner: the whole contract the portal may use.

Analyst code runs in a forked, confined worker (sandbox/pool.py, isolation.py) under a
RestrictedPython policy (policy.py); its only route to data is a JSON plan (plan.py) that the
supervisor validates and hands to the portal's `DataBroker`. This package imports only the
standard library, RestrictedPython and pyseccomp, never `portal`, Flask, SQLAlchemy or duckdb.
See docs/sandbox.md.
"""

from __future__ import annotations

import atexit
import threading

from sandbox.contract import (
    DataBroker,
    Isolation,
    Limits,
    ResourceUse,
    RunError,
    RunRequest,
    RunResult,
)
from sandbox.plan import PlanError, validate_plan
from sandbox.pool import IsolationWarning, Sandbox, SandboxConfig, SandboxError, prepare_zygote

__all__ = [
    "DataBroker", "Isolation", "IsolationWarning", "Limits", "PlanError", "ResourceUse",
    "RunError", "RunRequest", "RunResult", "Sandbox", "SandboxConfig", "SandboxError", "run",
    "close_default", "prepare_zygote", "validate_plan",
]

_default: Sandbox | None = None
_default_lock = threading.Lock()


def run(request: RunRequest, broker: DataBroker) -> RunResult:
    """Run on a module-level pool, started on first use with the default configuration."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(close_default)
        pool = _default
    return pool.run(request, broker)


def close_default() -> None:
    """Stop the module-level pool (it restarts on the next `run`)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
            _default = None
