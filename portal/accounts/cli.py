"""`kaifang create-key`, `revoke-key` and `set-tier`: API keys from the operator's shell.

They go through the same services as the account page. `create-key` prints the new key once
on stdout (and nothing else there, so scripts can capture it); the rest goes to stderr.
"""

from __future__ import annotations

import click

from portal.accounts import keys, service
from portal.auth import SYSTEM
from portal.db import session_scope
from portal.errors import PortalError


def _fail(exc: PortalError) -> click.ClickException:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in (exc.errors or {}).items())
    return click.ClickException(f"{exc.detail}{' (' + details + ')' if details else ''}")


def _app():
    from portal.commands import current_app  # noqa: PLC0415

    return current_app()


@click.command("create-key")
@click.argument("email")
@click.option("--name", required=True, help="What the key is for.")
@click.option("--scopes", required=True, help="Comma-separated: catalog:read,rows:read,sandbox:run.")
@click.option("--expires", "expires_days", type=int, default=None, help="Days until the key expires (default: never).")
@click.option("--tier", default=None, help="Rate-limit tier (default: RATELIMIT_DEFAULT_TIER).")
def create_key(email: str, name: str, scopes: str, expires_days: int | None, tier: str | None) -> None:
    """Make an API key for the account EMAIL and print it (shown only this once)."""
    app = _app()
    with app.app_context(), session_scope(app) as session:
        owner = service.user_by_email(session, email)
        if owner is None:
            raise click.ClickException(f"no active account {email}")
        try:
            made = keys.create_key(session, service.actor_for(session, owner.id), name=name,
                                   scopes=[s.strip() for s in scopes.split(",") if s.strip()],
                                   tier=app.config["RATELIMIT_DEFAULT_TIER"], expires_days=expires_days)
            summary = made.summary
            if tier:
                summary = keys.set_tier(session, SYSTEM, summary.prefix, tier, tiers=list(app.extensions["kaifang.tiers"]))
        except PortalError as exc:
            raise _fail(exc) from exc
    click.echo(made.secret)
    click.echo(f"key {summary.prefix} for {email}: {', '.join(summary.scopes)}, tier {summary.tier}, "
               f"expires {summary.expires_at:%Y-%m-%d}" if summary.expires_at else
               f"key {summary.prefix} for {email}: {', '.join(summary.scopes)}, tier {summary.tier}, never expires",
               err=True)


@click.command("revoke-key")
@click.argument("prefix")
def revoke_key(prefix: str) -> None:
    """Revoke the API key with this PREFIX (as shown on the account page)."""
    app = _app()
    with app.app_context(), session_scope(app) as session:
        try:
            summary = keys.revoke_key(session, SYSTEM, prefix)
        except PortalError as exc:
            raise _fail(exc) from exc
    click.echo(f"revoked {summary.prefix} ({summary.name}); running workers drop it within "
               f"{app.config['KEY_CACHE_SECONDS']} s")


@click.command("set-tier")
@click.argument("prefix")
@click.argument("tier")
def set_tier(prefix: str, tier: str) -> None:
    """Move the API key PREFIX to rate-limit TIER (one of RATELIMIT_TIERS)."""
    app = _app()
    with app.app_context(), session_scope(app) as session:
        try:
            summary = keys.set_tier(session, SYSTEM, prefix, tier, tiers=list(app.extensions["kaifang.tiers"]))
        except PortalError as exc:
            raise _fail(exc) from exc
    click.echo(f"{summary.prefix} ({summary.name}) is now in tier {summary.tier}")
