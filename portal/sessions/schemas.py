"""What the sessions service hands to the API, the notebook and the steward page: plain frozen
dataclasses that pydantic serialises (and documents in the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Budget:
    """The caller's limits and what is left of them today (UTC)."""

    sessions_open: int
    sessions_max: int
    cpu_seconds_used_today: float
    cpu_seconds_daily: int
    cpu_seconds_left: float


@dataclass(frozen=True)
class CellBudget:
    """A conditional grant's released cells a day (for the account on the dataset, under all its
    grants) and over its life (`cells_lifetime`, added to what the account had released when the
    grant was made; `cells_lifetime_left` what is left of it), and what may still be released
    today, `cells_left`: the smaller of today's cells left and the lifetime's (decision 0030w;
    docs/disclosure.md, "daily budget"). In the ε-budget mode what a
    query spends is ε instead (None in the statistical mode): `epsilon_daily` a day for the
    account on the dataset, under all its grants; `epsilon_lifetime` what the grant may add over
    its life, `epsilon_lifetime_left` what is left of it; `epsilon_left` what may still be spent
    today, the smaller of today's ε left and the lifetime ε left (decision 0030u)."""

    dataset: str
    cells_daily: int
    cells_left: int
    mode: str = "sdc"
    epsilon_daily: float | None = None
    epsilon_left: float | None = None
    epsilon_lifetime: float | None = None
    epsilon_lifetime_left: float | None = None
    cells_lifetime: int | None = None
    cells_lifetime_left: int | None = None


@dataclass(frozen=True)
class RunView:
    """One cell: `status` is queued → running → done (the sandbox answered; `result.status` says
    how the code went) or error (it could not run: grant gone, budget used up, sandbox failure;
    `result.code` names why). `result` is null until then."""

    id: str
    session_id: str
    index: int
    status: str
    code: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    audit_run_id: str | None
    deleted_at: datetime | None = None  # deleted from the session's cells (still readable by id)


@dataclass(frozen=True)
class SessionView:
    id: str
    datasets: tuple[str, ...]
    status: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    runs: tuple[RunView, ...]
    budget: Budget
    # per conditional dataset under an active grant; null in the list of sessions (read one session)
    cells: tuple[CellBudget, ...] | None = None


@dataclass(frozen=True)
class QueueFigures:
    """What stewards see of the run queue: depth now, and latency over the recent window."""

    backend: str
    queued: int
    running: int
    open_sessions: int
    window_minutes: int
    finished: int
    errors: int
    wait_p50_ms: float | None
    wait_p95_ms: float | None
    run_p50_ms: float | None
    run_p95_ms: float | None
    oldest_queued_seconds: float | None
