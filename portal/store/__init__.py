"""The data store: immutable typed Parquet files per dataset version, queried with DuckDB.

This is the one engine behind previews, downloads, the row API and the sandbox broker. The
catalog keeps version metadata and calls these functions with a `StoredTable` (path + schema);
the store imports no Flask and no SQLAlchemy and knows nothing of users or permissions. Design
and reasons: docs/store.md. Names are loaded on first use (`__getattr__` below).
"""

from importlib import import_module

_LAZY = {  # public name → (submodule, its name there), imported on first access
    "charts": ("charts", None),
    "points": ("points", None),
    "AggregateQuery": ("aggregates", "AggregateQuery"),
    "AggregateResult": ("aggregates", "AggregateResult"),
    "Measure": ("aggregates", "Measure"),
    "aggregate": ("aggregates", "aggregate"),
    "bin_counts": ("aggregates", "bin_counts"),
    "clamp": ("bounds", "clamp"),
    "confined": ("connection", "confined"),
    "gaps": ("constraints", "gaps"),
    "values_in_text": ("echoes", "values_in_text"),
    "IngestError": ("errors", "IngestError"),
    "QueryError": ("errors", "QueryError"),
    "StoreError": ("errors", "StoreError"),
    "CACHED_FORMATS": ("exportcache", "CACHED_FORMATS"),
    "MEASURED_FORMATS": ("exportcache", "MEASURED_FORMATS"),
    "cached_export": ("exportcache", "cached_export"),
    "measure_export": ("exportcache", "measure_export"),
    "sweep_exports": ("exportcache", "sweep_exports"),
    "EXPORT_FORMATS": ("exports", "EXPORT_FORMATS"),
    "export": ("exports", "export"),
    "checksum_file": ("files", "checksum_file"),
    "sweep": ("files", "sweep"),
    "FORMATS": ("formats", "FORMATS"),
    "IngestResult": ("ingestion", "IngestResult"),
    "keyed": ("record_keys", "keyed"),
    "keyed_path": ("record_keys", "keyed_path"),
    "ingest": ("ingestion", "ingest"),
    "PAGE_FORMATS": ("pages", "PAGE_FORMATS"),
    "EncodedPage": ("pages", "EncodedPage"),
    "encode_page": ("pages", "encode_page"),
    "output_name": ("plan_sql", "output_name"),
    "CellStats": ("plan_cells", "CellStats"),
    "PlanResult": ("plans", "PlanResult"),
    "count_plan": ("plans", "count_plan"),
    "plan_schema": ("plans", "plan_schema"),
    "run_plan": ("plans", "run_plan"),
    "OPERATORS": ("queries", "OPERATORS"),
    "Filter": ("queries", "Filter"),
    "Operator": ("queries", "Operator"),
    "RowPage": ("queries", "RowPage"),
    "RowQuery": ("queries", "RowQuery"),
    "Sort": ("queries", "Sort"),
    "TextMatch": ("queries", "TextMatch"),
    "LoadReport": ("reports", "LoadReport"),
    "configure_resident": ("resident", "configure"),
    "configure_projections": ("projections", "configure"),
    "projection_paths": ("projections", "existing"),
    "prepare_copies": ("projections", "prepare"),
    "MAX_LIMIT": ("rows", "MAX_LIMIT"),
    "query_rows": ("rows", "query_rows"),
    "TYPES": ("schema", "TYPES"),
    "Column": ("schema", "Column"),
    "StoredTable": ("schema", "StoredTable"),
    "PersonCap": ("schema", "PersonCap"),
}


def __getattr__(name: str):
    """Load the submodule that defines `name` on first use (PEP 562): reading rows does not
    import the exporters (pyarrow), a sandbox run does not import ingestion."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    found = import_module(f"{__name__}.{module}")
    value = found if attribute is None else getattr(found, attribute)
    globals()[name] = value
    return value


__all__ = [
    "confined", "gaps", "configure_resident", "configure_projections", "projection_paths", "prepare_copies", "CellStats", "PlanResult", "count_plan", "output_name", "plan_schema", "run_plan",
    "CACHED_FORMATS", "EXPORT_FORMATS", "MEASURED_FORMATS", "cached_export", "measure_export", "sweep_exports", "FORMATS", "MAX_LIMIT", "OPERATORS", "PAGE_FORMATS", "TYPES", "EncodedPage", "encode_page",
    "AggregateQuery", "AggregateResult", "Column", "Filter", "IngestError", "IngestResult",
    "Measure", "Operator", "QueryError", "RowPage", "RowQuery", "Sort", "StoreError",
    "StoredTable", "PersonCap", "LoadReport", "charts", "points", "TextMatch", "aggregate", "bin_counts", "clamp", "checksum_file", "export", "ingest", "query_rows", "sweep", "keyed", "keyed_path",
    "values_in_text",
]
