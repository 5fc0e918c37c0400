"""Alembic environment: runs against the connection handed in by `portal.catalog.setup.migrate`,
or opens one from `sqlalchemy.url` (for `alembic` on the command line)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import portal.access.models  # noqa: F401
import portal.accounts.models  # noqa: F401 - registers tables on Base.metadata
import portal.analysis.models  # noqa: F401
import portal.catalog.models  # noqa: F401
import portal.sessions.models  # noqa: F401
from portal.db import Base

target_metadata = Base.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
