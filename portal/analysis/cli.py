"""`kaifang sandbox-run`: run a file of analyst code through exactly the web app's path."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from portal.access.service import grant_access, usable_datasets
from portal.accounts.models import User
from portal.analysis.modes import EpsilonDefaults
from portal.analysis.service import submit_run
from portal.auth import SYSTEM, Actor
from portal.db import session_scope
from portal.errors import Forbidden, NotFound, PortalError

CLI_GRANT_DAYS = 1


def sandbox_run(app: Flask, source: Path, *, email: str, grants: list[str], as_json: bool) -> int:
    """Run `source` as `email`. A `--grant` of a conditional dataset is a one-day grant made by
    the operator (the CLI acts as a steward); closed datasets are never granted."""
    code = source.read_text(encoding="utf-8")
    with app.app_context(), session_scope(app) as session:
        try:
            actor = _actor(session, email)
            _ensure_grants(session, actor, grants)
            outcome = submit_run(session, actor, code=code, datasets=grants, secret=app.config["SECRET_KEY"],
                                 data_dir=Path(app.config["DATA_DIR"]),
                                 answer_quantum=app.config["ANALYSIS_ANSWER_QUANTUM_MS"] / 1000,
                                 epsilon=EpsilonDefaults.from_config(app.config))
        except PortalError as exc:
            click.echo(json.dumps({"status": "refused", "code": exc.code, "message": exc.detail}, ensure_ascii=False)
                       if as_json else f"✗ {exc.detail} [{exc.code}]", err=not as_json)
            return 2
    result = outcome.result
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_human(result)
    return 0 if result["status"] == "ok" else 1


def _actor(session, email: str) -> Actor:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        raise NotFound("user", email)
    return Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)


def _ensure_grants(session, actor: Actor, slugs: list[str]) -> None:
    for slug in slugs:
        try:
            usable_datasets(session, actor, [slug])
        except Forbidden as exc:
            if exc.code != "no-grant":
                raise
            grant_access(session, SYSTEM, email=actor.email or "", slug=slug, days=CLI_GRANT_DAYS,
                         purpose="granted by the operator through `kaifang sandbox-run`")


def print_human(result: dict) -> None:
    click.echo(f"status: {result['status']} — {result['message']}")
    if result.get("stdout"):
        click.echo(result["stdout"].rstrip())
    for output in result.get("outputs") or []:
        click.echo(json.dumps(output, ensure_ascii=False)[:2000])
    for refused in result.get("refused") or []:
        click.echo(f"refused [{refused.get('rule')}]: {refused.get('reason')}")
    for spent in result.get("epsilon") or []:
        click.echo(f"{spent['dataset']}: {spent['note']}")
    if result.get("error"):
        error = result["error"]
        click.echo(f"error: {error['type']}: {error['message']} (line {error.get('line')})")
