"""Kaifang (开放), an open data portal. `create_app` wires config, extensions and blueprints; nothing else.

`create_core_app` is the part every process needs — configuration, the database and every table
on its metadata — without blueprints, templates, the limiter or the search index: what a
command that only calls services (`kaifang sandbox-run`, `run-worker`) loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from portal.config import instance_path, load_config


def create_core_app(test_config: dict[str, Any] | None = None, *, instance: Path | None = None) -> Flask:
    """Configuration, database and models: enough to call any service, nothing of the web."""
    instance = (instance or instance_path()).resolve()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=False)
    app.config.update(load_config(instance, test_config))
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses

    from portal import db
    from portal.access import models as _access_models  # noqa: F401 - every table on Base.metadata
    from portal.accounts import models as _accounts_models  # noqa: F401
    from portal.analysis import models as _analysis_models  # noqa: F401
    from portal.catalog import models as _catalog_models  # noqa: F401
    from portal.catalog import outbox as _outbox  # noqa: F401
    from portal.sessions import models as _session_models  # noqa: F401

    db.init_app(app)
    return app


def create_app(test_config: dict[str, Any] | None = None, *, instance: Path | None = None) -> Flask:
    app = create_core_app(test_config, instance=instance)

    from portal import errors, extensions, filters, search
    from portal.access.views import bp as access_bp
    from portal.accounts.views import bp as accounts_bp
    from portal.analysis import samples
    from portal.analysis.views import bp as analysis_bp
    from portal.api import bp as api_bp
    from portal.api import limits
    from portal.api.ckan import bp as ckan_bp
    from portal.api.docs import bp as developers_bp
    from portal.api.notebook import bp as notebook_api_bp
    from portal.catalog import setup as catalog_setup
    from portal.catalog import staging as catalog_staging
    from portal.catalog.views import bp as catalog_bp
    from portal.interop.views import bp as interop_bp
    from portal.notebook.views import bp as notebook_bp
    from portal.search.views import bp as search_bp
    from portal.sessions.views import bp as sessions_bp
    from portal.site.views import bp as site_bp

    catalog_staging.set_sample_writer(samples.write_sample)
    catalog_setup.init_caches(app)
    search.init_app(app)
    extensions.init_app(app)
    errors.init_app(app)
    filters.init_app(app)
    for blueprint in (site_bp, catalog_bp, search_bp, accounts_bp, analysis_bp, api_bp, developers_bp, ckan_bp,
                      interop_bp, access_bp, notebook_api_bp, sessions_bp, notebook_bp):
        app.register_blueprint(blueprint)
    limits.init_app(app)
    return app


def prepare_instance(app: Flask) -> None:
    """`kaifang init`: the instance's folders, the migrated database, the themes, and a search
    index built from whatever the database holds."""
    from portal import search
    from portal.catalog.setup import prepare_catalog

    prepare_catalog(app)
    search.prepare(app)
