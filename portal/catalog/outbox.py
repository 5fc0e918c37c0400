"""The search outbox: datasets whose index entry must be refreshed, written in the same
transaction as the catalog change that makes it stale.

The catalog writes it (`enqueue`) and `portal.search` drains it: the writer owns the table, so
the catalog never imports the search package above it (docs/architecture.md).

A row names a dataset id, not an action: whoever drains the outbox reads the dataset as it is
then, and indexes it, or removes it from the index when it no longer exists. There is no foreign
key, so a deleted dataset's row outlives it until the index has forgotten it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base, utcnow

PENDING = "kaifang.search.pending"  # a session flag: the outbox has rows to drain after commit


class SearchOutbox(Base):
    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def enqueue(session: Session, dataset_id: int) -> None:
    """Mark a dataset for (re)indexing, or removal if it is gone, in the caller's transaction."""
    session.add(SearchOutbox(dataset_id=dataset_id))
    session.info[PENDING] = True
