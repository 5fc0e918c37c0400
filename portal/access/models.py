"""Grants: a user's time-limited right to analyse one conditional dataset."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.catalog.models import utcnow
from portal.db import Base


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(20), default="aggregate")
    purpose: Mapped[str] = mapped_column(Text, default="")
    granted_by: Mapped[str] = mapped_column(String(254), default="")
    daily_cell_budget: Mapped[int] = mapped_column(Integer, default=2000)
    # Disclosure mode for this grant ("sdc" or "dp"), overriding the dataset's; None inherits it.
    disclosure_mode: Mapped[str | None] = mapped_column(String(10))
    # ε per day in the "dp" mode; None means the dataset's or the portal's default.
    daily_epsilon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
