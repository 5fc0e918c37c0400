"""The `kaifang` command: init, load, versions, serve, create-user, create-key, revoke-key, set-tier.

Commands act as the operator (`SYSTEM` actor) through the same service functions as the web app.
The commands of the domain packages are named here and imported only when invoked (or listed
by `--help`): a command pays for the packages it uses, not for every other command's.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from importlib import import_module
from pathlib import Path
from typing import NoReturn

import click

from portal.catalog.disclosure_settings import MODES
from portal.commands import BUILD_APP, BUILD_CORE_APP
from portal.config import instance_path

# Commands defined in the domain packages: name → "module:attribute", imported on first use.
# Each domain command: where it lives, and the first paragraph of its help, which `kaifang --help`
# lists without importing the module: listing them through `get_command` imported every domain
# package, 0.6 s of the command line's start (a test checks the texts against the commands' own).
LAZY_COMMANDS = {
    "grant": ("portal.access.cli:grant", "Grant EMAIL aggregate access to the conditional dataset SLUG."),
    "expire-applications": ("portal.access.cli:expire_applications",
                            "Mark approved applications whose grants have all run out as expired, and mail their "
                            "applicants (run it daily from cron; expired grants stop working at their expiry "
                            "regardless)."),
    "create-key": ("portal.accounts.cli:create_key",
                   "Make an API key for the account EMAIL and print it (shown only this once)."),
    "revoke-key": ("portal.accounts.cli:revoke_key",
                   "Revoke the API key with this PREFIX (as shown on the account page)."),
    "set-tier": ("portal.accounts.cli:set_tier", "Move the API key PREFIX to rate-limit TIER (one of RATELIMIT_TIERS)."),
    "audit": ("portal.analysis.cli:audit_command",
              "Show what sandbox runs did: queries, released/suppressed/charged cells, refusals, flags."),
    "rotate-disclosure-key": ("portal.analysis.cli:rotate_key_command",
                              "Replace the disclosure key (noise and record keys) and reset the differencing memory."),
    "run-worker": ("portal.sessions.cli:run_worker",
                   "Run analysis-session cells from the Redis queue (SESSION_QUEUE_URL) until interrupted."),
    "export-cache": ("portal.catalog.cli:export_cache",
                     "Write the download files (CSV, JSON, NDJSON, GeoJSON, XLSX) of the current versions of open "
                     "datasets and record their sizes, so no visitor waits for the first one, and the Z-order copy "
                     "of a large version (decision 0027c). `kaifang load` starts it in the background after "
                     "publishing; run it by hand for versions published before sizes were recorded."),
}


class LazyGroup(click.Group):
    """A group whose domain commands are imported when asked for (click's documented pattern)."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with a lazy command not yet imported listed from its help text."""
        commands = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                commands.append((name, click.Command(name, help=self.lazy[name][1])))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attribute = self.lazy[name][0].split(":")
            self.add_command(getattr(import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def main(self, args=None, *rest, **kwargs):
        """Click's `main`; without `args` it parses `sys.argv`: this process is the `kaifang`
        program (its console script, `python -m portal.cli`), not a caller such as click's
        `CliRunner`, which passes the arguments. Only the program may end itself (`_leave`),
        and only the program's `sandbox-run` is offered to the command server first (forked
        from a process that has imported it; decision 0030v): none took it, it runs here and
        starts one for the next command as it leaves."""
        global _AS_PROGRAM, _START_SERVER
        _AS_PROGRAM = args is None
        if _AS_PROGRAM and sys.argv[1:2] == ["sandbox-run"]:
            from portal import command_server

            if not command_server.IN_SERVER:
                code = command_server.forward(sys.argv)
                if code is not None:
                    sys.exit(code)
                _START_SERVER = True
        return super().main(args, *rest, **kwargs)


_AS_PROGRAM = False
_START_SERVER = False  # a `sandbox-run` no server took: one is started for the next (0030v)


def _leave(code: int) -> NoReturn:
    """End the command with `code`. As the program, without the interpreter's teardown:
    non-daemon threads are awaited and the exit handlers run (the sandbox pool is closed, its
    zygote reaped and its folder removed; logging flushed), as on a normal exit, but the
    finalisation of every imported module and object is skipped: ~0.2 s after a run on the
    slower machine class, a fifth of `kaifang sandbox-run`'s wall time (decision 0030p). What
    the command wrote to the database was committed before it returns. Under a caller (tests'
    `CliRunner`), a plain `sys.exit`. In the command server's copy, the status also goes to
    the client that handed the command over."""
    if not _AS_PROGRAM:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter's shutdown runs, run now
    sys.stdout.flush()
    sys.stderr.flush()
    from portal import command_server

    if _START_SERVER:
        command_server.start_in_background()  # after the command's own work, not beside it
    command_server.report(code)  # to the client, when this is the command server's copy
    os._exit(code)


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Kaifang (开放) open data portal."""
    ctx.meta[BUILD_APP] = _app  # the domain packages' commands build the app through portal.commands
    ctx.meta[BUILD_CORE_APP] = _core_app


@main.command()
def init() -> None:
    """Create the instance folder, its secret, database (migrations) and data/search folders."""
    import secrets

    instance = instance_path()
    instance.mkdir(parents=True, exist_ok=True)
    cfg = instance / "kaifang.cfg"
    if not cfg.exists():
        cfg.write_text(f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n", encoding="utf-8")
        cfg.chmod(0o600)
    from portal.analysis.keys import create_key_file

    if create_key_file(instance):
        click.echo(f"disclosure key written to {instance / 'disclosure.key'} (0600; see docs/disclosure.md)")
    app = _app()
    from portal import prepare_instance
    from portal.analysis.codes import vault_from_config

    vault_from_config(app.config)  # writes audit-code.key (0600) now, not at the first run
    prepare_instance(app)
    click.echo(f"instance ready at {instance}")


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dataset", "slug", help="Publish PATH (a data file) as a new version of this dataset.")
@click.option("--version-note", default="", help="A note stored with the new version.")
@click.option("--format", "fmt", default=None, help="Force the file format (csv, tsv, xlsx, xls, json, ndjson, geojson).")
@click.option("--sheet", default=None, help="The sheet of a workbook to read: its name or number (1 = first).")
def load(path: Path, slug: str | None, version_note: str, fmt: str | None, sheet: str | None) -> None:
    """Load a dataset folder, a folder of them, or (with --dataset) one data file."""
    from portal.catalog.cli import build_exports_in_background, load_file, load_folders

    app = _app()
    published: list[str] = []
    ok = (load_file(app, path, slug, note=version_note, fmt=fmt, sheet=sheet, published=published) if slug
          else load_folders(app, path, published=published))
    if build_exports_in_background(app, published):
        click.echo(f"download files of {len(published)} dataset(s) are being written in the background "
                   "(kaifang export-cache; log: instance/logs/export-cache.log)")
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("slug")
def versions(slug: str) -> None:
    """List the versions of a dataset, newest first."""
    from portal.auth import SYSTEM
    from portal.catalog import service
    from portal.db import session_scope
    from portal.errors import PortalError

    app = _app()
    with app.app_context(), session_scope(app) as session:
        try:
            detail = service.get_dataset(session, SYSTEM, slug)
            # the catalog shows no checksum of conditional data; the operator sees it (0028i)
            versions = service.operator_versions(session, slug)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        for v in versions:
            marker = "*" if detail.current and v.number == detail.current.number else " "
            click.echo(f"{marker} v{v.number}  {v.created_at:%Y-%m-%d %H:%M}  {v.row_count:>12,} rows  "
                       f"{v.source_format:<8} {v.checksum[:12]}  {v.source_name}  {v.note}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the portal with Waitress, a multi-threaded production WSGI server."""
    from waitress import serve as waitress_serve

    app = _app()
    click.echo(f"Kaifang serving on http://{host}:{port}/ ({threads} threads)")
    from portal.accounts.service import dummy_hash

    dummy_hash()  # the sign-in timing guard's hash, made before the first request
    waitress_serve(app, host=host, port=port, threads=threads, ident="kaifang")


@main.command("create-user")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["developer", "publisher", "steward", "admin"]))
@click.option("--department", default=None, help="Department slug (required for publishers).")
@click.option("--password", default=None, help="Password; prompted for when omitted.")
def create_user(email: str, role: str, department: str | None, password: str | None) -> None:
    """Create an account with a role."""
    from portal.accounts import service
    from portal.auth import SYSTEM
    from portal.db import session_scope
    from portal.errors import PortalError

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = _app()
    with app.app_context(), session_scope(app) as session:
        try:
            user = service.create_user(session, SYSTEM, email=email, password=password, role=role,
                                       department=department)
        except PortalError as exc:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in (exc.errors or {}).items())
            raise click.ClickException(f"{exc.detail}{' (' + details + ')' if details else ''}") from exc
        click.echo(f"created {user.email} ({user.role})")


@main.command("sandbox-run")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "email", required=True, help="Run as this user (their grants and budget).")
@click.option("--grant", "grants", multiple=True, help="A dataset slug the code may use (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option("--mode", "disclosure_mode", type=click.Choice(MODES), default=None,
              help="Disclosure mode of a grant this command makes (default: the dataset's declared mode).")
def sandbox_run(source: Path, email: str, grants: tuple[str, ...], as_json: bool, disclosure_mode: str | None) -> None:
    """Run a file of analyst code in the sandbox, through the same path as the web app."""
    _warm_pool()  # the zygote boots on the other core while the database layers are imported
    from portal.analysis.cli import sandbox_run as run

    app = _core_app()
    code = run(app, source, email=email, grants=list(grants), as_json=as_json, disclosure_mode=disclosure_mode)
    from portal.db import database

    database(app).engine.dispose()  # connections closed as at teardown (SQLite checkpoints its WAL)
    _leave(code)


def _warm_pool() -> None:
    from portal.analysis.runtime import warm_pool
    from portal.config import ConfigError, load_config

    try:
        warm_pool(load_config(instance_path(), rate_limits=False))
    except ConfigError:
        pass  # `_core_app` reports it


@main.command("offline-run")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", "paths", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="A sample package (.zip from a dataset page) or a table file named SLUG.csv (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def offline_run(source: Path, paths: tuple[Path, ...], as_json: bool) -> None:
    """Run analysis code over downloaded sample data, with the portal's sandbox and rules."""
    import json

    from portal.analysis.cli import print_human
    from portal.analysis.offline import run_offline
    from portal.analysis.terminal import safe, safe_json

    result = run_offline(source.read_text(encoding="utf-8"), list(paths))
    if as_json:
        click.echo(safe_json(json.dumps(result, ensure_ascii=False, indent=2)))
    else:
        print_human(result)
        for note in result.get("offline_notes", []):
            click.echo(safe(f"note: {note}"))
    sys.exit(0 if result["status"] == "ok" else 1)


@main.command()
def reindex() -> None:
    """Rebuild the search index from the database."""
    from portal.search.cli import reindex as run

    run(_app())


@main.command()
@click.argument("slug")
def delete(slug: str) -> None:
    """Delete a dataset, its versions and its files (it leaves the search index at once)."""
    from portal.catalog.cli import delete_one

    sys.exit(0 if delete_one(_app(), slug) else 1)


def _app():
    """The whole web app (blueprints, extensions): for commands that render or index."""
    from portal import create_app
    from portal.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _core_app():
    """Configuration, database and models only, without Flask (`portal.create_core`): for
    commands that run services and need no blueprint, template, limiter or search index."""
    from portal import create_core
    from portal.config import ConfigError

    try:
        return create_core()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc

if __name__ == "__main__":
    main()
