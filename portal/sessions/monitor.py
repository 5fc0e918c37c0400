"""What stewards see of the run queue: how many cells wait and run now, and how long cells
waited and ran over the last hour — read from the runs themselves, so it is the same whichever
queue backend carries them and however many processes share it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.auth import Actor
from portal.catalog.models import utcnow
from portal.errors import Forbidden
from portal.sessions import permissions
from portal.sessions.models import AnalysisSession, SessionRun
from portal.sessions.schemas import QueueFigures

WINDOW_MINUTES = 60
SAMPLE = 5000


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def queue_figures(db: Session, actor: Actor, *, backend: str, window_minutes: int = WINDOW_MINUTES) -> QueueFigures:
    """Raises: Forbidden: not a steward."""
    if not permissions.can_view_queue(actor):
        raise Forbidden("the run queue is for data stewards")
    now = utcnow()
    counts = dict(db.execute(select(SessionRun.status, func.count()).where(
        SessionRun.status.in_(("queued", "running"))).group_by(SessionRun.status)).all())
    oldest = db.scalar(select(func.min(SessionRun.submitted_at)).where(SessionRun.status == "queued"))
    recent = db.execute(select(SessionRun.status, SessionRun.submitted_at, SessionRun.started_at, SessionRun.finished_at)
                        .where(SessionRun.finished_at >= now - timedelta(minutes=window_minutes))
                        .order_by(SessionRun.finished_at.desc()).limit(SAMPLE)).all()
    waits = [(r.started_at - r.submitted_at).total_seconds() * 1000 for r in recent if r.started_at]
    runs = [(r.finished_at - r.started_at).total_seconds() * 1000 for r in recent if r.started_at]
    open_sessions = db.scalar(select(func.count()).select_from(AnalysisSession).where(
        AnalysisSession.status == "open", AnalysisSession.expires_at >= now)) or 0
    return QueueFigures(backend=backend, queued=counts.get("queued", 0), running=counts.get("running", 0),
                        open_sessions=open_sessions, window_minutes=window_minutes, finished=len(recent),
                        errors=sum(1 for r in recent if r.status == "error"),
                        wait_p50_ms=percentile(waits, 0.5), wait_p95_ms=percentile(waits, 0.95),
                        run_p50_ms=percentile(runs, 0.5), run_p95_ms=percentile(runs, 0.95),
                        oldest_queued_seconds=round((now - oldest).total_seconds(), 1) if oldest else None)
