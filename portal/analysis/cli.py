"""Analysis commands: `sandbox-run` (analyst code through exactly the web app's path),
`audit` (what runs did, flagged ones first) and `rotate-disclosure-key`.

Everything printed to the operator's terminal that an analyst wrote or chose (printed output,
table cells, chart titles and labels, error messages) goes through `terminal.safe`, so a
hostile string cannot drive the terminal with control sequences.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select

from portal.access.service import grant_access, usable_datasets
from portal.accounts.models import User
from portal.analysis import audit, keys, memory
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.analysis.terminal import safe, safe_json
from portal.auth import SYSTEM, Actor
from portal.db import session_scope
from portal.errors import Forbidden, NotFound, PortalError

if TYPE_CHECKING:
    from flask import Flask

    from portal.core import Core

CLI_GRANT_DAYS = 1


def sandbox_run(app: Flask | Core, source: Path, *, email: str, grants: list[str], as_json: bool,
                disclosure_mode: str | None = None) -> int:
    """Run `source` as `email`. A `--grant` of a conditional dataset the user holds no grant for is
    a one-day grant made by the operator (the CLI acts as a steward), in `disclosure_mode` or the
    dataset's declared mode; closed datasets are never granted."""
    code = source.read_text(encoding="utf-8")
    try:
        settings = AnalysisSettings.from_config(app.config)
    except (keys.MissingKey, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    with app.app_context(), session_scope(app) as session:
        try:
            actor = _actor(session, email)
            _ensure_grants(session, actor, grants, disclosure_mode)
            outcome = submit_run(session, actor, code=code, datasets=grants, settings=settings)
        except PortalError as exc:
            click.echo(safe_json(json.dumps({"status": "refused", "code": exc.code, "message": exc.detail}, ensure_ascii=False))
                       if as_json else safe(f"✗ {exc.detail} [{exc.code}]"), err=not as_json)
            return 2
    result = outcome.result
    if as_json:
        click.echo(safe_json(json.dumps(result, ensure_ascii=False, indent=2)))
    else:
        print_human(result)
    return 0 if result["status"] == "ok" else 1


def _actor(session, email: str) -> Actor:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        raise NotFound("user", email)
    return Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)


def _ensure_grants(session, actor: Actor, slugs: list[str], disclosure_mode: str | None) -> None:
    for slug in slugs:
        try:
            usable_datasets(session, actor, [slug])
        except Forbidden as exc:
            if exc.code != "no-grant":
                raise
            grant_access(session, SYSTEM, email=actor.email or "", slug=slug, days=CLI_GRANT_DAYS,
                         purpose="granted by the operator through `kaifang sandbox-run`", disclosure_mode=disclosure_mode)


def print_human(result: dict) -> None:
    click.echo(safe(f"status: {result['status']} — {result['message']}"))
    if result.get("stdout"):
        click.echo(safe(result["stdout"].rstrip(), keep_newlines=True))
    for output in result.get("outputs") or []:
        click.echo(safe(json.dumps(output, ensure_ascii=False)[:2000]))
    for refused in result.get("refused") or []:
        click.echo(safe(f"refused [{refused.get('rule')}]: {refused.get('reason')}"))
    for spent in result.get("epsilon") or []:
        click.echo(safe(f"{spent['dataset']}: {spent['note']}"))
    if result.get("error"):
        error = result["error"]
        click.echo(safe(f"error: {error['type']}: {error['message']} (line {error.get('line')})"))


def print_audit(app: Flask, *, flagged_only: bool, email: str | None, limit: int, run_id: str | None) -> None:
    """Runs newest first, with their flags; with a run id, that run's every query."""
    with app.app_context(), session_scope(app) as session:
        if run_id:
            _print_run(audit.get_run(session, SYSTEM, run_id))
            return
        runs = audit.list_runs(session, SYSTEM, limit=limit,
                               filters=audit.AuditFilter(user_email=email, flagged_only=flagged_only))
    for run in runs:
        click.echo(safe(f"{run.started_at:%Y-%m-%d %H:%M:%S}  {run.run_id}  {run.user_email}  {run.status}  "
                        f"{run.queries} queries, {run.cells_released} released, {run.cells_suppressed} suppressed, "
                        f"{run.refusals} refused, {run.cells_charged} charged  {', '.join(run.datasets)}"
                        + ("  [isolation override]" if run.isolation_fallback else "")))
        for flag in run.flags:
            click.echo(safe(f"    ⚑ {flag['flag']}: {flag['detail']}"))
    if not runs:
        click.echo("no runs")


def _print_run(run: audit.RunSummary) -> None:
    click.echo(safe(f"{run.run_id}  {run.user_email}  {run.status}  {run.started_at:%Y-%m-%d %H:%M:%S}"))
    for flag in run.flags:
        click.echo(safe(f"⚑ {flag['flag']}: {flag['detail']} (queries {flag['queries']})"))
    for q in run.details:
        outcome = f"refused [{q.rule}] {q.reason}" if q.status == "refused" else f"{q.cells_released} released"
        hidden = ", ".join(f"{n} {rule}" for rule, n in q.suppressed.items())
        click.echo(safe(f"#{q.number} {outcome}{'; suppressed ' + hidden if hidden else ''}; charged {q.cells_charged}"))
        click.echo(safe("    " + json.dumps(q.plan, ensure_ascii=False, sort_keys=True)[:4000]))


ROTATION_COST = """Rotating the disclosure key is deliberate and costs protection and continuity:
- every released figure of conditional data changes (new noise draws): an analyst who kept
  answers from before now holds two independent draws of each cell, which narrows the noise;
- the differencing memory (every released cell remembered for every dataset version) is reset,
  so near-identical sets asked before and after the rotation are not snapped to each other;
- sample data already published keeps its old values (samples are drawn from released values).
Rotate when the key may have leaked, not on a schedule."""


def rotate_disclosure_key(app: Flask) -> int:
    """Replace the instance's key file and reset the differencing memory; prints the cost."""
    if app.config.get("DISCLOSURE_KEY"):
        raise click.ClickException("the key comes from the DISCLOSURE_KEY setting: change the setting itself; "
                                   "cells remembered under the old key are then no longer consulted")
    instance = Path(app.config["INSTANCE_PATH"])
    keys.replace_key_file(instance)
    with app.app_context(), session_scope(app) as session:
        forgotten = memory.forget_all(session)
        session.commit()
    click.echo(f"new disclosure key written to {keys.key_path(instance)}; {forgotten} remembered cell(s) forgotten")
    return 0


def _app() -> Flask:
    from portal.commands import current_app  # noqa: PLC0415 - built by the root command (portal.cli)

    return current_app()


@click.command("audit")
@click.option("--flagged", is_flag=True, help="Only runs flagged for attack patterns.")
@click.option("--user", "email", default=None, help="Only this user's runs.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--run", "run_id", default=None, help="One run with every plan it sent.")
def audit_command(flagged: bool, email: str | None, limit: int, run_id: str | None) -> None:
    """Show what sandbox runs did: queries, released/suppressed/charged cells, refusals, flags."""
    try:
        print_audit(_app(), flagged_only=flagged, email=email, limit=limit, run_id=run_id)
    except PortalError as exc:
        raise click.ClickException(exc.detail) from exc


@click.command("rotate-disclosure-key")
@click.option("--yes", is_flag=True, help="Rotate without asking (the cost is printed either way).")
def rotate_key_command(yes: bool) -> None:
    """Replace the disclosure key (noise and record keys) and reset the differencing memory."""
    click.echo(ROTATION_COST)
    if not yes:
        click.confirm("Rotate the disclosure key now?", abort=True)
    raise SystemExit(rotate_disclosure_key(_app()))
