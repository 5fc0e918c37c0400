"""Conditional access: applications, their append-only history, and the grants they lead to.

An `Application` is what a developer asks for; `ApplicationEvent` rows record every change of
its state (who, when, from → to, why) and are only ever added, never updated or deleted. A
`Grant` is the steward's decision in force: one per approved dataset, with its scope (version,
columns, row filter, daily cell budget, expiry). The broker enforces the scope
(`portal/analysis/service.py`), so these rows are the whole truth of who may read what.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.catalog.models import utcnow
from portal.db import Base

STATES = ("draft", "submitted", "approved", "refused", "withdrawn", "expired", "revoked")


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
    # ε the grant may add, over its life, to what its account has spent on the dataset in the "dp"
    # mode; None means the dataset's or the portal's default (decision 0030u).
    lifetime_epsilon: Mapped[float | None] = mapped_column(Float)
    # What the account had spent on the dataset (`EpsilonAccountTotal`) when the grant was made:
    # the grant's lifetime ε counts from there, whichever of the account's grants spends it.
    epsilon_before: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Cells the grant may add, over its life, to what its account has released from the dataset
    # in the "sdc" mode; None means the dataset's `lifetime_cells` or the portal's default
    # (decision 0030w). `cells_before`: what the account had released when the grant was made.
    lifetime_cells: Mapped[int | None] = mapped_column(Integer)
    cells_before: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The scope of an approval (None: no restriction): the version the grant is for, the columns
    # a plan may read, and row conditions [{"column", "op", "value"}] ANDed under every plan.
    version: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[list[str] | None] = mapped_column(JSON)
    row_filter: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="SET NULL"), index=True)
    # Whose ledgers the grant charges (ε and cells, per day and over all days): the first account
    # of the same verified applicant that held a grant on the dataset, else the grant's own;
    # None is the grant's own (decision 0031e). No ON DELETE: accounts are deactivated, never
    # deleted, and one whose budget other accounts' grants charge must not vanish under them.
    budget_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    @property
    def budget_account(self) -> int:
        """The account whose budgets the grant charges."""
        return self.budget_user_id or self.user_id


class Application(Base):
    """A developer's request for conditional access to one or more datasets."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    datasets: Mapped[list[str]] = mapped_column(JSON)  # slugs of conditional datasets
    purpose: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str] = mapped_column(String(200))
    fields_wanted: Mapped[str] = mapped_column(Text, default="")
    intended_outputs: Mapped[str] = mapped_column(Text, default="")
    duration_days: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)  # the review's SLA deadline
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="SET NULL"))
    # The applicant's real name and identity document (decision 0031e): never the number itself,
    # only its keyed digest (`portal/access/identity.py`) and last four characters for the steward.
    # Null on applications made before migration 0018l.
    applicant_name: Mapped[str | None] = mapped_column(String(100))
    document_type: Mapped[str | None] = mapped_column(String(20))
    id_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    id_last4: Mapped[str | None] = mapped_column(String(4))
    credit_code: Mapped[str | None] = mapped_column(String(18))  # the organisation's, optional


class ApplicationEvent(Base):
    """One change of an application's state. Append-only: nothing updates or deletes these."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    actor_email: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")


class AccountOnDataset:
    """The key of a budget ledger of one account on one dataset (decisions 0030u, 0030w): the
    ε and cell ledgers below differ only in what they count and whether they are by day."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-3)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, sort_order=-2)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True, sort_order=-2)


class EpsilonAccountDay(AccountOnDataset, Base):
    """ε one account spent on one dataset on one day, in the "dp" mode, under all its grants on
    it: the daily ε is the person's, not each grant's, so a second approved application does not
    double it (decision 0030u; portal/analysis/epsilon.py charges it)."""

    __tablename__ = "epsilon_account_days"
    __table_args__ = (UniqueConstraint("user_id", "dataset_id", "day"),)

    day: Mapped[date] = mapped_column(Date)
    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)


class EpsilonAccountTotal(AccountOnDataset, Base):
    """ε one account has spent on one dataset over all days and grants: what each grant's lifetime
    ε is measured against (from its `Grant.epsilon_before`). Never reset; it goes with the account."""

    __tablename__ = "epsilon_account_totals"
    __table_args__ = (UniqueConstraint("user_id", "dataset_id"),)

    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)


class CellAccountDay(AccountOnDataset, Base):
    """Cells one account released from one dataset on one day, in the statistical ("sdc") mode,
    under all its grants on it: the daily cell budget is the person's, not each grant's (decision
    0030w; portal/analysis/budget.py charges it with the grant's `release_ledger` row)."""

    __tablename__ = "cell_account_days"
    __table_args__ = (UniqueConstraint("user_id", "dataset_id", "day"),)

    day: Mapped[date] = mapped_column(Date)
    cells: Mapped[int] = mapped_column(Integer, default=0)


class CellAccountTotal(AccountOnDataset, Base):
    """Cells one account has released from one dataset over all days and grants: what each grant's
    lifetime cells are measured against (from its `Grant.cells_before`). Never reset."""

    __tablename__ = "cell_account_totals"
    __table_args__ = (UniqueConstraint("user_id", "dataset_id"),)

    cells: Mapped[int] = mapped_column(Integer, default=0)
