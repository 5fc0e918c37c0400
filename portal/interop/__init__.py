"""What the open data world's tools read: CKAN package dicts, DCAT-AP 3 JSON-LD, Project Open Data
`data.json` and Frictionless Data Packages, all built from the catalog's `DatasetDetail` records.

The shaping modules are pure functions (no Flask, no SQL): the views fetch records through
`portal.catalog.records` (so visibility is `visible_datasets`) and pass a `Links` for absolute
URLs. Only `views.py` knows about requests.
"""
