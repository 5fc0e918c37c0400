"""The data store: immutable typed Parquet files per dataset version, queried with DuckDB.

This is the one engine behind previews, downloads, the row API and the sandbox broker. The
catalog keeps version metadata and calls these functions with a `StoredTable` (path + schema);
the store imports no Flask and no SQLAlchemy and knows nothing of users or permissions. Design
and reasons: docs/store.md.
"""

from portal.store import charts, points
from portal.store.aggregates import AggregateQuery, AggregateResult, Measure, aggregate
from portal.store.bounds import clamp
from portal.store.connection import confined
from portal.store.errors import IngestError, QueryError, StoreError
from portal.store.exportcache import (
    CACHED_FORMATS,
    MEASURED_FORMATS,
    cached_export,
    measure_export,
    sweep_exports,
)
from portal.store.exports import EXPORT_FORMATS, export
from portal.store.files import checksum_file, sweep
from portal.store.formats import FORMATS
from portal.store.ingestion import IngestResult, ingest
from portal.store.pages import PAGE_FORMATS, EncodedPage, encode_page
from portal.store.plan_sql import output_name
from portal.store.plans import CellStats, PlanResult, count_plan, plan_schema, run_plan
from portal.store.queries import OPERATORS, Filter, Operator, RowPage, RowQuery, Sort, TextMatch
from portal.store.reports import LoadReport
from portal.store.resident import configure as configure_resident
from portal.store.rows import MAX_LIMIT, query_rows
from portal.store.schema import TYPES, Column, StoredTable

__all__ = [
    "confined", "configure_resident", "CellStats", "PlanResult", "count_plan", "output_name", "plan_schema", "run_plan",
    "CACHED_FORMATS", "EXPORT_FORMATS", "MEASURED_FORMATS", "cached_export", "measure_export", "sweep_exports", "FORMATS", "MAX_LIMIT", "OPERATORS", "PAGE_FORMATS", "TYPES", "EncodedPage", "encode_page",
    "AggregateQuery", "AggregateResult", "Column", "Filter", "IngestError", "IngestResult",
    "Measure", "Operator", "QueryError", "RowPage", "RowQuery", "Sort", "StoreError",
    "StoredTable", "LoadReport", "charts", "points", "TextMatch", "aggregate", "clamp", "checksum_file", "export", "ingest", "query_rows", "sweep",
]
