"""The app of the running `kaifang` command.

The root group (`portal.cli.main`, the composition root) knows how to build the app; the
commands of the domain packages (`portal/<domain>/cli.py`) ask for it here, so that none of
them imports `portal.cli` and, through it, every other package (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flask import Flask

    from portal.core import Core

BUILD_APP = "kaifang.build_app"
BUILD_CORE_APP = "kaifang.build_core_app"


def current_app() -> Flask:
    """Build the app for this command invocation (settings from the instance folder)."""
    return _build(BUILD_APP)  # type: ignore[return-value]


def current_core_app() -> Core:
    """Build the core (configuration, database, models, no Flask: `portal.create_core`) for a
    command that only calls services: it starts without importing the web layers."""
    return _build(BUILD_CORE_APP)


def _build(which: str) -> Flask | Core:
    ctx = click.get_current_context()
    root = ctx.find_root()
    build: Callable[[], Flask | Core] | None = root.meta.get(which)
    if build is None:
        raise click.ClickException("run this command through `kaifang`")
    return build()
