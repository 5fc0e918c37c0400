"""The catalog's command-line work: loading folders and files with progress and clear failures."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from sqlalchemy.exc import OperationalError
from tqdm import tqdm

from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.catalog.packages import find_packages
from portal.db import session_scope
from portal.errors import PortalError

PROGRESS_FROM_BYTES = 20 * 1024 * 1024


def load_folders(app: Flask, path: Path) -> bool:
    """Load every dataset folder at `path`; report each; False if any failed."""
    data_dir = Path(app.config["DATA_DIR"])
    failures = 0
    with app.app_context():
        try:
            folders = find_packages(path)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        for folder in folders:
            with session_scope(app) as session:
                try:
                    outcome = publishing.load_package(session, SYSTEM, folder, data_dir=data_dir,
                                                      code_words=code_words(app))
                except PortalError as exc:
                    failures += 1
                    click.echo(f"✗ {folder.name}: {_describe(exc)}", err=True)
                    continue
                except OperationalError as exc:
                    failures += 1
                    click.echo(f"✗ {folder.name}: {_busy(exc)}", err=True)
                    continue
            click.echo(_outcome_line(outcome))
            _echo_report(outcome.version)
    click.echo(f"{len(folders)} dataset folder(s), {failures} failed")
    return failures == 0


def load_file(app: Flask, path: Path, slug: str, *, note: str, fmt: str | None,
              sheet: str | None = None) -> bool:
    """Publish one data file as the next version of `slug`, with a progress bar for big files.
    `sheet` is a workbook sheet's name, or its number from 1 when it is all digits."""
    data_dir = Path(app.config["DATA_DIR"])
    size = path.stat().st_size
    with app.app_context(), session_scope(app) as session, tqdm(
        total=size, unit="B", unit_scale=True, desc=path.name, disable=size < PROGRESS_FROM_BYTES,
    ) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(max(0, done - bar.n))

        try:
            version = publishing.add_version(session, SYSTEM, slug, path, data_dir=data_dir, note=note,
                                             fmt=fmt, progress=progress, code_words=code_words(app),
                                             sheet=int(sheet) if sheet and sheet.isdigit() else sheet)
        except PortalError as exc:
            click.echo(f"✗ {slug}: {_describe(exc)}", err=True)
            return False
        except OperationalError as exc:
            click.echo(f"✗ {slug}: {_busy(exc)}", err=True)
            return False
    if version is None:
        click.echo(f"= {slug}: unchanged (same checksum as the current version)")
    else:
        click.echo(f"+ {slug}: version {version.number}, {version.row_count:,} rows")
        _echo_report(version)
    return True


def code_words(app: Flask) -> tuple[str, ...] | None:
    """The words that make a column a code column (setting CODE_COLUMN_WORDS; empty = built in)."""
    raw = app.config.get("CODE_COLUMN_WORDS") or ""
    words = tuple(w.strip() for w in raw.split(",") if w.strip())
    return words or None


def _echo_report(version) -> None:
    """What the load skipped, flagged or widened, one indented line each."""
    for line in version.report_lines() if version is not None else ():
        click.echo(f"    {line}")


def _outcome_line(outcome: publishing.LoadOutcome) -> str:
    if not outcome.changed:
        return f"= {outcome.slug}: unchanged"
    parts = ["created" if outcome.created else "updated"]
    if outcome.metadata_changed:
        parts = ["metadata updated"]
    if outcome.version is not None:
        parts.append(f"version {outcome.version.number} ({outcome.version.row_count:,} rows)")
    return f"+ {outcome.slug}: {', '.join(parts)}"


def _busy(exc: OperationalError) -> str:
    """A database that would not take the write (SQLite's "database is locked" while another
    `kaifang load` holds it): said plainly, nothing of this load kept, not a traceback."""
    reason = str(exc.orig) if exc.orig is not None else str(exc).splitlines()[0]
    return (f"the database did not accept the write ({reason}); is another `kaifang load` running? "
            "Nothing of this load was kept: run it again when the other one is done [database-busy]")


def _describe(exc: PortalError) -> str:
    """The error's detail, then every field at fault that the detail does not already name."""
    items = [f"{k}: {', '.join(v)}" for k, v in (exc.errors or {}).items()]
    details = "; ".join(item for item in items if item not in exc.detail)
    return f"{exc.detail} [{exc.code}]" + (f" ({details})" if details else "")


def delete_one(app: Flask, slug: str) -> bool:
    """Delete a dataset with its versions and files; False if there was none."""
    with app.app_context(), session_scope(app) as session:
        try:
            publishing.delete_dataset(session, SYSTEM, slug, data_dir=Path(app.config["DATA_DIR"]))
        except PortalError as exc:
            click.echo(f"✗ {slug}: {_describe(exc)}", err=True)
            return False
    click.echo(f"- {slug}: deleted")
    return True
