"""The values that cross the sandbox boundary: requests, results, limits and the broker protocol.

Everything here is a frozen dataclass of plain values (str, int, float, dicts and tuples of
JSON-safe values) so the portal can store or serialise a result without knowing the sandbox.
Nothing in this module may import the portal, Flask, SQLAlchemy or DuckDB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

STATUSES = ("ok", "error", "timeout", "killed", "refused")


@dataclass(frozen=True)
class Limits:
    """Per-run caps. Defaults follow the measurements in the research notes (section 7)."""

    source_bytes: int = 64 * 1024
    cpu_seconds: int = 3
    wall_seconds: float = 10.0
    memory_bytes: int = 512 * 1024 * 1024
    output_bytes: int = 64 * 1024
    result_bytes: int = 1024 * 1024
    queries: int = 200
    show_rows: int = 50
    cell_chars: int = 200
    outputs: int = 50
    chart_points: int = 5000
    state_bytes: int = 256 * 1024
    open_files: int = 16

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunRequest:
    """One cell of analyst code. `grants` names the datasets the run may name at all."""

    code: str
    state: dict[str, Any] | None = None
    limits: Limits = field(default_factory=Limits)
    run_id: str = ""
    grants: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunError:
    """What went wrong inside the analyst's code, with the line in *their* source."""

    type: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class ResourceUse:
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    max_rss_bytes: int = 0


@dataclass(frozen=True)
class Isolation:
    """Which OS layers were active for the run. `fallback` is True when any layer was not."""

    layers: dict[str, str] = field(default_factory=dict)
    fallback: bool = True


@dataclass(frozen=True)
class RunResult:
    """The whole answer of a run; `status` is one of STATUSES and `message` says it in words."""

    status: str
    message: str
    stdout: str = ""
    outputs: tuple[dict[str, Any], ...] = ()
    error: RunError | None = None
    released: tuple[dict[str, Any], ...] = ()
    refused: tuple[dict[str, Any], ...] = ()
    usage: ResourceUse = field(default_factory=ResourceUse)
    state: dict[str, Any] | None = None
    isolation: Isolation = field(default_factory=Isolation)
    run_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the portal's run record and API)."""
        return dataclasses.asdict(self)


class DataBroker(Protocol):
    """The trusted side: validates a plan (see docs/sandbox.md), applies disclosure control.

    `execute` receives a plan that already passed `sandbox.plan.validate_plan` and the run's
    grant check, and must return a JSON-safe dict: `{"status": "ok", ...}` or
    `{"status": "refused", "rule": ..., "reason": ..., "detail"?: ...}` (`detail`, optional, tells
    apart cases of one rule in the result's record of refusals; the code sees rule and reason).

    Optionally, a broker may define `set_deadline(at: float)`: the supervisor calls it once,
    before the code is sent, with the run's wall-clock deadline (a `time.monotonic()` value),
    so the broker can interrupt its own work then; the supervisor cannot stop a run while it
    is inside `execute`.

    Optionally too, `refused_before(plan, rule, reason)`: called for a query the supervisor
    refused without asking (`query-cap`, `plan`, `grant`; at most 100 a run), so that a broker
    which keeps an audit logs every query a run made. `plan` is as the worker sent it, unchecked
    unless the rule is `grant`.
    """

    def execute(self, plan: dict[str, Any]) -> dict[str, Any]: ...
