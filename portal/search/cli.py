"""`kaifang reindex`: rebuild the search index from the database."""

from __future__ import annotations

import time

import click
from flask import Flask

from portal import search


def reindex(app: Flask) -> None:
    """Rebuild in place: searches keep answering from the old generation until the commit."""
    index = search.engine(app).index
    started = time.perf_counter()
    count = index.rebuild()
    click.echo(f"indexed {count} dataset(s) in {time.perf_counter() - started:.1f} s at {index.folder}")
