"""Catalog tables: themes, departments, datasets, their versions and their data dictionary.

Relationships are `lazy="raise"` so a template can never trigger a query: the service loads what
a page needs up front. Dataset rows are not here; a `Version` points at an immutable Parquet file
written by `portal.store`.
"""

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
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, utcnow

OPEN_CLASSES = ("open", "conditional", "closed")
UPDATE_FREQUENCIES = ("static", "annual", "quarterly", "monthly", "weekly", "daily", "realtime", "irregular")


class Theme(Base):
    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(200))


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    open_class: Mapped[str] = mapped_column(String(20), index=True)
    closed_reason: Mapped[str | None] = mapped_column(Text)
    licence_name: Mapped[str] = mapped_column(String(100), default="")
    licence_title: Mapped[str] = mapped_column(String(300), default="")
    licence_url: Mapped[str] = mapped_column(String(500), default="")
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    update_frequency: Mapped[str] = mapped_column(String(20), default="irregular")
    temporal_start: Mapped[date | None] = mapped_column(Date)
    temporal_end: Mapped[date | None] = mapped_column(Date)
    spatial_zh: Mapped[str] = mapped_column(String(300), default="")
    spatial_en: Mapped[str] = mapped_column(String(300), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sample data of a demo instance: the department is the data's real publisher, shown with a notice.
    demo_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    coordinates: Mapped[dict[str, str] | None] = mapped_column(JSON)
    disclosure: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # overrides of analysis.disclosure.Rules
    cluster_by: Mapped[list[str] | None] = mapped_column(JSON)  # columns the stored rows are sorted by
    published: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    descriptor_checksum: Mapped[str] = mapped_column(String(64), default="")
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id", use_alter=True, name="fk_datasets_current_version"))
    view_count: Mapped[int] = mapped_column(BigInteger, default=0)
    download_count: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    theme: Mapped[Theme] = relationship(lazy="raise")
    department: Mapped[Department] = relationship(lazy="raise")
    tags: Mapped[list[Tag]] = relationship(lazy="raise", cascade="all, delete-orphan",
                                           order_by="Tag.position")
    fields: Mapped[list[Field]] = relationship(lazy="raise", cascade="all, delete-orphan",
                                               order_by="Field.position")
    current_version: Mapped[Version | None] = relationship(
        lazy="raise", foreign_keys=[current_version_id], post_update=True)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("dataset_id", "lang", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    lang: Mapped[str] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(String(80), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Field(Base):
    """One column of a dataset's data dictionary, as published (flags drive disclosure control)."""

    __tablename__ = "fields"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    # The type the descriptor declared (strict for every later version); None when inferred.
    declared_type: Mapped[str | None] = mapped_column(String(20))
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str | None] = mapped_column(String(40))
    identifier: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    # Publisher-declared public bounds (Table Schema constraints.minimum/maximum) and category
    # levels (constraints.enum): disclosure control computes ranges and group limits from these,
    # never from the data.
    minimum: Mapped[float | None] = mapped_column(Float)
    maximum: Mapped[float | None] = mapped_column(Float)
    levels: Mapped[list[str] | None] = mapped_column(JSON)
    # Values of this field that mark a row as an aggregate of other rows (a region or "World"
    # beside countries, 合计 beside districts): default charts leave those rows out.
    aggregates: Mapped[list[str] | None] = mapped_column(JSON)
    # Table Schema constraints.required: no record lacks a value, by the publisher's word. Disclosure
    # control reads whether a field may be missing here, never in the data (decision 0028e).
    required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class Version(Base):
    """An immutable upload of a dataset's data; `storage_path` is relative to the data folder."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    source_name: Mapped[str] = mapped_column(String(300))
    source_format: Mapped[str] = mapped_column(String(20))
    encoding: Mapped[str | None] = mapped_column(String(40))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    row_count: Mapped[int] = mapped_column(BigInteger)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    source_bytes: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    storage_path: Mapped[str] = mapped_column(String(500))
    sample_path: Mapped[str | None] = mapped_column(String(500))  # synthetic sample of conditional data
    # ε the sample spent, once for the version (decision 0031a): None for a statistical-mode
    # sample, 0 for one drawn from the data dictionary alone; summed over the dataset's versions
    # it is the sample's ledger, bounded by SAMPLE_LIFETIME_EPSILON
    sample_epsilon: Mapped[float | None] = mapped_column(Float)
    # The size the catalog shows of a version of a dataset in the ε mode (decision 0031f): the
    # sum of the sample's released counts of one column, rounded; None: no figure (a statistical
    # version shows `row_count`; a dictionary sample released no count)
    row_count_approx: Mapped[int | None] = mapped_column(BigInteger)
    clamped: Mapped[dict[str, int] | None] = mapped_column(JSON)  # values clamped into declared bounds, per field
    # What the load did beyond storing rows: the sheet read, rows skipped above and below the
    # table, totals rows, and column types widened since the previous version (store.LoadReport).
    load_report: Mapped[dict | None] = mapped_column(JSON)
    # Byte size of each download format ({"csv": 34323434, ...}): measured at publish for the
    # text formats of open data, and recorded when a format is first written to the download
    # cache (XLSX), so the page, the API and DCAT can show it (decision 0022a).
    export_sizes: Mapped[dict[str, int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ViewMark(Base):
    """That one visitor viewed one dataset on one day: a keyed hash of (day, visitor, dataset), so
    no address is stored and the marks of a day cannot be linked to the next day's. Marks older
    than yesterday are deleted when views are written (portal/catalog/visits.py)."""

    __tablename__ = "view_marks"

    digest: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)


class Counter(Base):
    """Portal-wide counters (e.g. API calls) that belong to no one dataset."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
