"""Test data made the way users make it: dataset folders on disk, loaded through the services."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask

from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope

CSV = "code,name,population,founded\n010101,和平区,355000,1404-12-23\n010102,河东区,860000,1404-12-23\n010103,河西区,990000,\n"


def dataset_folder(root: Path, slug: str = "districts", *, csv: str = CSV, open_class: str = "open",
                   title_zh: str = "行政区", department: str = "stats-bureau", **ext) -> Path:
    folder = root / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text(csv, encoding="utf-8")
    descriptor = {
        "name": slug, "title": "Districts", "description": "Test districts.",
        "licenses": [{"name": "CC0-1.0", "title": "CC0", "path": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "keywords": ["districts"],
        "resources": [{"name": "data", "path": "data.csv", "format": "csv", "encoding": "utf-8",
                       "schema": {"fields": [{"name": "code", "type": "string"}, {"name": "name", "type": "string"},
                                             {"name": "population", "type": "integer"}, {"name": "founded", "type": "date"}]}}],
        "kaifang": {"title_zh": title_zh, "description_zh": "测试", "theme": "geospatial", "tags_zh": ["区划"],
                    "department": {"slug": department, "name_zh": "市统计局", "name_en": "Statistics Bureau"},
                    "open_class": open_class, "update_frequency": "annual",
                    "fields": {"code": {"description_zh": "代码", "identifier": False}}, **ext},
    }
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    return folder


def load(app: Flask, folder: Path) -> publishing.LoadOutcome:
    with app.app_context(), session_scope(app) as session:
        return publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
