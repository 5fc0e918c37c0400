"""The audit log of sandbox runs (each run and each of its queries), the ledger of cells charged
per grant and day, and the shared memory of released cells (differencing control)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.catalog.models import utcnow
from portal.db import Base


class AnalysisRun(Base):
    """One run of analyst code. Written as `running` before the code starts, so a run that kills
    its worker or the process still leaves a record; completed when the run ends."""

    __tablename__ = "analysis_runs"
    # a person's latest runs, newest first, read after each run (`audit._earlier_queries`): from
    # the index in order, not every run of the day sorted (decision 0031d)
    __table_args__ = (Index("ix_analysis_runs_user_started", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    user_email: Mapped[str] = mapped_column(String(254), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    code_sha256: Mapped[str] = mapped_column(String(64))
    code_bytes: Mapped[int] = mapped_column(Integer)
    # The code, Fernet-encrypted for stewards (AUDIT_CODE_STORAGE=encrypted); None when only hashed.
    code_encrypted: Mapped[str | None] = mapped_column(Text)
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    datasets_touched: Mapped[list[str]] = mapped_column(JSON, default=list)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    cells_released: Mapped[int] = mapped_column(Integer, default=0)
    cells_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    refusals: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    max_rss_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    isolation_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    cells_charged: Mapped[int] = mapped_column(Integer, default=0)
    # ε the run spent in the ε-budget mode, over its grants (or the public's); 0 otherwise
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class AnalysisQuery(Base):
    """One plan a run sent to the broker, as sent (JSON), and what came of it: released and
    suppressed cells, the rule of a refusal or of each suppression, and the budget charged.
    Stewards read these to see what a run did (`portal/analysis/audit.py`)."""

    __tablename__ = "analysis_queries"
    __table_args__ = (UniqueConstraint("run_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_runs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(String(60), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    cells_released: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    cells_charged: Mapped[int] = mapped_column(Integer, default=0)


class ReleaseLedger(Base):
    """Cells released under one grant on one day: the daily budget against differencing."""

    __tablename__ = "release_ledger"
    __table_args__ = (UniqueConstraint("grant_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    cells: Mapped[int] = mapped_column(Integer, default=0)


class ReleasedCell(Base):
    """A cell of conditional data released to anyone, for differencing control: shared by every
    user of the dataset version (`signature`), bounded per signature with least-recently-used
    eviction (`last_used_at`); `key_fingerprint` names the disclosure key its cell key was made
    with. Its true size and key never leave the server; see portal/analysis/differencing.py."""

    __tablename__ = "released_cells"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature: Mapped[str] = mapped_column(String(500))
    key_fingerprint: Mapped[str] = mapped_column(String(16))
    records: Mapped[int] = mapped_column(BigInteger)
    cell_key: Mapped[str] = mapped_column(String(20))
    sketch: Mapped[list[Any]] = mapped_column(JSON)
    released: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The sketch's marks (min-hashes of its records), so that the memory finds a near cell by
    # its records and not by its size alone (decision 0028m); null for cells remembered before.
    mark_0: Mapped[str | None] = mapped_column(String(24), default=None)
    mark_1: Mapped[str | None] = mapped_column(String(24), default=None)
    mark_2: Mapped[str | None] = mapped_column(String(24), default=None)
    mark_3: Mapped[str | None] = mapped_column(String(24), default=None)
    # The sketch's 60 bucket counts, `bucket_0` to `bucket_59`, by which the search ranks the
    # remembered cells nearest a set in records (`sketches.spread`, decision 0029a); null for
    # cells remembered before. Sixty alike columns, so declared in a loop.
    for _i in range(60):
        vars()[f"bucket_{_i}"] = mapped_column(Integer, default=None)
    # And their checks' low 31 bits, `check_0` to `check_59`: where two tables' counts agree
    # and their checks do not, a record was added and one removed (`sketches.spread`,
    # decision 0029u); null for cells remembered before.
    for _i in range(60):
        vars()[f"check_{_i}"] = mapped_column(Integer, default=None)
    # The first part's count and check in one value each, `first_0` to `first_19` (the count
    # times 2^32 plus the check's low 31 bits), so that the search's window is ranked by their
    # check-aware lower bound on an index that holds them (`sketches.lower_bound`, decision
    # 0030g); null for cells remembered before.
    for _i in range(20):
        vars()[f"first_{_i}"] = mapped_column(BigInteger, default=None)
    del _i
    # A set answered like a remembered cell (snapped to it) is remembered too, under its own
    # size, key and table, as an alias of that cell: its values are the cell's, read from the
    # cell's row, and it goes when the cell goes (decision 0029q). Null for a cell answered on
    # its own records.
    alias_of: Mapped[int | None] = mapped_column(ForeignKey("released_cells.id", ondelete="CASCADE"), index=True,
                                                 default=None)
    # The memory's clock (`MemoryClock.ticks`) when the row was last used: rows more than the
    # memory's capacity of cells asked behind it are forgotten (decision 0029y); null for rows
    # remembered before, forgotten first.
    used_tick: Mapped[int | None] = mapped_column(BigInteger, default=None)

    # The search's window is ranked on this index alone: its size range and the first part's
    # counts and checks, whose lower bound orders it (decisions 0030a, 0030g).
    __table_args__ = (Index("ix_released_cells_window", "key_fingerprint", "signature", "records",
                            *(f"first_{i}" for i in range(20))),
                      Index("ix_released_cells_used_tick", "signature", "used_tick"),
                      # A mark's rows in the set's size range, sought on the index alone: without
                      # `records`, SQLite read every row of the range from the window's index and
                      # the table to test its mark (decision 0031g).
                      *(Index(f"ix_released_cells_mark_{i}", "key_fingerprint", "signature", f"mark_{i}", "records")
                        for i in range(4)))


class MemoryClock(Base):
    """The cells asked of a dataset's shared memory (all versions: the registry's signature)
    under differencing control, every cell of every query whatever its records: the clock its
    eviction runs on (decision 0029y). A count of rows held made the eviction hang on which sets
    were new — a set plus the target is a new row, the same set without it none (0029s)."""

    __tablename__ = "memory_clocks"

    signature: Mapped[str] = mapped_column(String(500), primary_key=True)
    ticks: Mapped[int] = mapped_column(BigInteger, default=0)


class EpsilonLedger(Base):
    """ε spent under one grant on one day, in the ε-budget (differential privacy) mode: every
    query on the dataset spends its ε, refused ones too; see portal/analysis/epsilon.py."""

    __tablename__ = "epsilon_ledger"
    __table_args__ = (UniqueConstraint("grant_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)


class PublicEpsilon(Base):
    """ε the public (every anonymous caller, as one) spent on one dataset on one day through the
    public aggregates of a dataset in the ε-budget mode; summed over its days it is the public's
    lifetime spend on the dataset (decision 0030z)."""

    __tablename__ = "public_epsilon"
    __table_args__ = (UniqueConstraint("dataset_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    epsilon: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)


class PublicAnswer(Base):
    """A public aggregate released in the ε-budget mode, kept and given again to whoever asks the
    same question of the same version: a released figure is paid for once (re-reading it is
    post-processing), where a fresh draw for each caller would let them average the noise away."""

    __tablename__ = "public_answers"
    __table_args__ = (UniqueConstraint("dataset_id", "version", "question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    question: Mapped[str] = mapped_column(String(400))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
