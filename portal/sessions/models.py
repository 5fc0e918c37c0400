"""Analysis sessions and their runs (cells).

A session holds the variables its last run left (`state`, JSON from `sandbox.state`; never
served), so the next cell continues from them. `claimed_by`/`claimed_until` is the lease of the
queue worker running the session's cells: one worker at a time, so cells run in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.catalog.models import utcnow
from portal.db import Base

SESSION_STATUSES = ("open", "closed", "expired")
RUN_STATUSES = ("queued", "running", "done", "error")


class AnalysisSession(Base):
    __tablename__ = "analysis_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)


class SessionRun(Base):
    """One cell. `code` is the owner's (to reopen a notebook); `result` is what
    `portal.analysis.service.submit_run` returned, without the state; `audit_run_id` names the
    steward's audit record of it."""

    __tablename__ = "analysis_session_runs"
    __table_args__ = (UniqueConstraint("session_id", "index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("analysis_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    index: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    audit_run_id: Mapped[str | None] = mapped_column(String(40))
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Deleted from the notebook by its owner: no longer one of the session's cells (page, API,
    # export), in every browser. The run itself and its audit record stay.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The API key the cell was sent with (None: the signed-in page): a key revoked or expired
    # while the cell waits stops it, as the key would stop a new request (`worker.execute_run`).
    key_prefix: Mapped[str | None] = mapped_column(String(16))
