"""The catalog's command-line work: loading folders and files with progress and clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
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


def load_folders(app: Flask, path: Path, published: list[str] | None = None) -> bool:
    """Load every dataset folder at `path`; report each; False if any failed. The slugs of the
    datasets that got a new version are appended to `published`."""
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
                    click.echo(f"✗ {folder.resolve().name}: {_describe(exc)}", err=True)
                    continue
                except OperationalError as exc:
                    failures += 1
                    click.echo(f"✗ {folder.resolve().name}: {_busy(exc)}", err=True)
                    continue
            click.echo(_outcome_line(outcome))
            _echo_report(outcome.version)
            if outcome.changed:
                _echo_echoes(app, outcome.slug, data_dir)
            if published is not None and outcome.version is not None:
                published.append(outcome.slug)  # export-cache skips it unless the dataset is open
    click.echo(f"{len(folders)} dataset folder(s), {failures} failed")
    return failures == 0


def load_file(app: Flask, path: Path, slug: str, *, note: str, fmt: str | None,
              sheet: str | None = None, published: list[str] | None = None) -> bool:
    """Publish one data file as the next version of `slug`, with a progress bar for big files.
    `sheet` is a workbook sheet's name, or its number from 1 when it is all digits. `slug` is
    appended to `published` when a new version was published."""
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
        with app.app_context():
            _echo_echoes(app, slug, data_dir)
        if published is not None:
            published.append(slug)  # export-cache skips it unless the dataset is open
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


def _echo_echoes(app: Flask, slug: str, data_dir: Path) -> None:
    """Values of identifier or sensitive fields found in the dataset's public text (decision 0029c)."""
    from portal.catalog.echoes import echoed_values  # noqa: PLC0415 - only after a load

    with session_scope(app) as session:
        for line in echoed_values(session, slug, data_dir):
            click.echo(f"    {line}")


def _outcome_line(outcome: publishing.LoadOutcome) -> str:
    if not outcome.changed:
        return f"= {outcome.slug}: unchanged"
    parts = ["created" if outcome.created else "updated"]
    if outcome.metadata_changed:
        parts = ["metadata updated"]
    if outcome.version is not None:
        parts.append(f"version {outcome.version.number} ({outcome.version.row_count:,} rows)")
    if outcome.sample_redrawn:
        parts.append("the current version's sample drawn again for the ε-budget mode")
    return f"+ {outcome.slug}: {', '.join(parts)}"


def _busy(exc: OperationalError) -> str:
    """A database that would not take the write (SQLite's "database is locked" while another
    `kaifang load` holds it): said plainly, nothing of this load kept, not a traceback."""
    reason = str(exc.orig) if exc.orig is not None else str(exc).splitlines()[0]
    if "no such table" in reason or "UndefinedTable" in type(exc.orig).__name__:
        # an instance never initialised, or one whose migrations did not finish
        return (f"the database has no catalog tables yet ({reason}): run `kaifang init` first, then load "
                "again. Nothing of this load was kept [not-initialised]")
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


@click.command("export-cache")
@click.argument("slugs", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every open dataset (the default when no SLUG is named).")
@click.option("--rebuild", is_flag=True, help="Delete the cached files first and write them again.")
def export_cache(slugs: tuple[str, ...], every: bool, rebuild: bool) -> None:
    """Write the download files (CSV, JSON, NDJSON, GeoJSON, XLSX) of the current versions of
    open datasets and record their sizes, so no visitor waits for the first one, and the
    Z-order copy of a large version (decision 0027c). `kaifang load` starts it in the background
    after publishing; run it by hand for versions published before sizes were recorded."""
    from portal.catalog import exportbuild
    from portal.commands import current_core_app

    if every and slugs:
        raise click.UsageError("name datasets or give --all, not both")
    app = current_core_app()

    def report(item: exportbuild.Built) -> None:
        name = f"{item.fmt}{' (BOM)' if item.bom else ''}"
        if item.size is None:
            click.echo(f"~ {item.slug} v{item.version} {name}: being written by another process, skipped")
        else:
            click.echo(f"+ {item.slug} v{item.version} {name}: {item.size:,} bytes ({item.seconds:.1f} s)")

    with app.app_context(), session_scope(app) as session:
        built = exportbuild.build(session, Path(app.config["DATA_DIR"]), slugs=slugs, rebuild=rebuild, report=report,
                                  copies=app.config["STORE_PROJECTIONS"])
    missing = set(slugs) - {b.slug for b in built}
    for slug in sorted(missing):
        click.echo(f"✗ {slug}: no open dataset with data by that name", err=True)
    click.echo(f"{len({b.slug for b in built})} dataset(s), {sum(1 for b in built if b.size is not None)} file(s) ready")
    if missing:
        sys.exit(1)


def build_exports_in_background(app: Flask, slugs: list[str]) -> bool:
    """Start `kaifang export-cache SLUG…` as a detached, low-priority (`nice -n 10`) process
    that outlives this command, so the download files of what was just published are ready
    before visitors ask; False when `EXPORT_CACHE_AFTER_LOAD` is off or nothing was published.
    A shell puts it in the background and exits at once, so nothing is left to wait for. Its
    output goes to `<instance>/logs/export-cache.log`."""
    if not slugs or not app.config["EXPORT_CACHE_AFTER_LOAD"]:
        return False
    logs = Path(app.instance_path) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "export-cache.log", "ab") as log:
        subprocess.run(  # noqa: S603 - our own command; the slugs are arguments, never shell text
            ["/bin/sh", "-c", 'nice -n 10 "$@" &', "sh", sys.executable, "-m", "portal.cli", "export-cache", *slugs],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, check=True,
            env={**os.environ, "KAIFANG_INSTANCE": app.instance_path})
    return True
