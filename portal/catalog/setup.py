"""Preparing an instance: migrate the database, seed the themes, make folders, sweep leftovers."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import select

from portal import store
from portal.catalog import downloads, staging
from portal.catalog.models import Dataset, Theme, Version
from portal.catalog.themes import THEMES
from portal.db import database, session_scope

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def init_caches(app: Flask) -> None:
    """The per-process catalog cache and count buffer of this app's database (cache.py, counters.py)."""
    from portal.catalog import cache, counters, pagecache

    engine = database(app).engine
    cache.configure(engine, check_seconds=app.config["CATALOG_CACHE_SECONDS"])
    counters.configure(engine, interval=app.config["COUNTS_FLUSH_SECONDS"])
    pagecache.configure(app.config["API_PAGE_CACHE_MB"])
    store.configure_resident(app.config["API_RESIDENT_MB"])
    store.configure_projections(app.config["STORE_PROJECTIONS"])


def alembic_config(url: str):
    from alembic.config import Config  # imported here: commands that never migrate skip alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(app: Flask) -> None:
    with database(app).engine.begin() as connection:
        config = alembic_config(app.config["DATABASE_URL"])
        config.attributes["connection"] = connection
        from alembic import command

        command.upgrade(config, "head")


def ensure_themes(app: Flask) -> None:
    """Insert missing themes and keep names and order in step with `THEMES`."""
    with session_scope(app) as session:
        existing = {t.code: t for t in session.scalars(select(Theme))}
        for position, (code, zh, en) in enumerate(THEMES):
            theme = existing.get(code) or Theme(code=code)
            theme.name_zh, theme.name_en, theme.position = zh, en, position
            session.add(theme)
        session.commit()


def sweep_data(app: Flask) -> list[Path]:
    """Delete data files no version points at (leftovers of interrupted loads)."""
    data_dir = Path(app.config["DATA_DIR"])
    with session_scope(app) as session:
        keep = {data_dir / p for p in session.scalars(select(Version.storage_path))}
        keep |= {store.keyed_path(p) for p in keep}  # their record keys' copies (decision 0024a)
        keep |= {c for p in list(keep) for c in store.projection_paths(p)}  # ordered copies (0027c)
        keep |= {data_dir / p for p in session.scalars(select(Version.sample_path)) if p}
        current = list(session.scalars(select(Version).join(Dataset, Dataset.current_version_id == Version.id)))
    removed = downloads.sweep(data_dir, current)
    for folder in (p for p in data_dir.iterdir() if p.is_dir() and p.name != downloads.EXPORTS_DIR):
        removed += store.sweep(folder, keep)
        removed += _sweep_samples(folder, keep)
    return removed


def _sweep_samples(folder: Path, keep: set[Path]) -> list[Path]:
    """Synthetic samples no version points at: written before the version is recorded
    (`staging.stage`), so a load that died in between leaves one (or its `.tmp`)."""
    orphans = [p for pattern in (f"*{staging.SAMPLE_SUFFIX}", f"*{staging.SAMPLE_TEMP_SUFFIX}")
               for p in folder.glob(pattern) if p.is_file() and p not in keep]
    for path in orphans:
        path.unlink(missing_ok=True)
    return orphans


def prepare_catalog(app: Flask) -> None:
    """The catalog's part of `kaifang init` (the search index is prepared by `portal.prepare_instance`)."""
    for key in ("DATA_DIR", "SEARCH_DIR"):
        Path(app.config[key]).mkdir(parents=True, exist_ok=True)
    migrate(app)
    ensure_themes(app)
    sweep_data(app)
