"""`kaifang run-worker`: the service process that takes analysis cells off the Redis queue and
runs them in its sandbox pool (production; the embedded default needs no such process)."""

from __future__ import annotations

import logging

import click


@click.command("run-worker")
@click.option("--threads", type=int, default=0, help="Worker threads (cells run at once); 0 means SESSION_QUEUE_THREADS or SANDBOX_WORKERS.")
def run_worker(threads: int) -> None:
    """Run analysis-session cells from the Redis queue (SESSION_QUEUE_URL) until interrupted."""
    from portal.commands import current_core_app as _app  # noqa: PLC0415 - no Flask: it serves no request
    from portal.sessions.queue import queue_for, thread_count  # noqa: PLC0415
    from portal.sessions.queue import run_worker as work

    app = _app()
    if not app.config["SESSION_QUEUE_URL"]:
        raise click.ClickException("set SESSION_QUEUE_URL=redis://… first: without it cells run inside the web process")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    count = threads or thread_count(app)
    click.echo(f"run-worker: {count} threads on {queue_for(app).key}", err=True)
    work(app, threads=count)
