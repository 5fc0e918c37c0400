"""`kaifang grant`: a steward's grant of conditional access, from the command line.

The portal has no grant form yet; operators grant through this command, which calls the same
`grant_access` service as any future view, acting as the operator.
"""

from __future__ import annotations

import click

from portal.catalog.disclosure_settings import MODES


@click.command("grant")
@click.argument("email")
@click.argument("slug")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True, help="How long the grant lasts.")
@click.option("--purpose", required=True, help="What the analysis is for (kept on the grant).")
@click.option("--mode", "disclosure_mode", type=click.Choice(MODES),
              help="Disclosure mode for this grant, overriding the dataset's (dp: the ε-budget mode).")
@click.option("--daily-epsilon", type=click.FloatRange(0, min_open=True),
              help="ε this grant may spend per day in the dp mode (default: the dataset's, else DP_DAILY_EPSILON).")
@click.option("--lifetime-epsilon", type=click.FloatRange(0, min_open=True),
              help="ε this grant may add over its life, in the dp mode, to what the account has spent on the dataset "
                   "(default: the dataset's, else DP_LIFETIME_DAYS days of the daily ε).")
@click.option("--daily-cells", type=click.IntRange(1), default=2000, show_default=True,
              help="Released cells per day in the sdc mode.")
@click.option("--lifetime-cells", type=click.IntRange(1),
              help="Released cells this grant may add over its life, in the sdc mode, to what the account has "
                   "released from the dataset (default: the dataset's, else SDC_LIFETIME_DAYS days of the daily cells).")
def grant(email: str, slug: str, days: int, purpose: str, disclosure_mode: str | None,
          daily_epsilon: float | None, lifetime_epsilon: float | None, daily_cells: int,
          lifetime_cells: int | None) -> None:
    """Grant EMAIL aggregate access to the conditional dataset SLUG."""
    from portal.access.service import grant_access
    from portal.auth import SYSTEM
    from portal.commands import current_app as _app
    from portal.db import session_scope
    from portal.errors import PortalError

    app = _app()
    with app.app_context(), session_scope(app) as session:
        try:
            grant_id = grant_access(session, SYSTEM, email=email, slug=slug, days=days, purpose=purpose,
                                    daily_cell_budget=daily_cells, disclosure_mode=disclosure_mode,
                                    daily_epsilon=daily_epsilon, lifetime_epsilon=lifetime_epsilon,
                                    lifetime_cells=lifetime_cells)
        except PortalError as exc:
            raise click.ClickException(f"{exc.detail} [{exc.code}]") from exc
    mode = f", mode {disclosure_mode}" if disclosure_mode else ""
    epsilon = f", ε {daily_epsilon:g} a day" if daily_epsilon else ""
    epsilon += f", ε {lifetime_epsilon:g} over its life" if lifetime_epsilon else ""
    epsilon += f", {lifetime_cells} cells over its life" if lifetime_cells else ""
    click.echo(f"grant {grant_id}: {email} may analyse {slug} for {days} day(s){mode}{epsilon}")


@click.command("expire-applications")
def expire_applications() -> None:
    """Mark approved applications whose grants have all run out as expired, and mail their
    applicants (run it daily from cron; expired grants stop working at their expiry regardless)."""
    from flask import url_for

    from portal.access import reviews
    from portal.access.notices import send_notices
    from portal.auth import SYSTEM
    from portal.commands import current_app as _app
    from portal.db import session_scope

    app = _app()
    with app.app_context(), session_scope(app) as session:
        moved = reviews.expire_applications(session, SYSTEM)
    with app.test_request_context():
        for transition in moved:
            link = url_for("access.application_page", application_id=transition.application_id, _external=True)
            send_notices(app.config, transition, link=link)
    click.echo(f"{len(moved)} application(s) expired")
