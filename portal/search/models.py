"""The search outbox: datasets whose index entry must be refreshed, written in the same
transaction as the catalog change that makes it stale.

A row names a dataset id, not an action: whoever drains the outbox reads the dataset as it is
then, and indexes it, or removes it from the index when it no longer exists. There is no foreign
key, so a deleted dataset's row outlives it until the index has forgotten it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.catalog.models import utcnow
from portal.db import Base


class SearchOutbox(Base):
    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
