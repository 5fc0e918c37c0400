"""Kaifang (开放), an open data portal. `create_app` wires config, extensions and blueprints; nothing else.

`create_core_app` is the part every web process needs — configuration, the database and every
table on its metadata — on a Flask app, without blueprints, templates, the limiter or the search
index. `create_core` is the same without Flask at all (`portal.core.Core`): what a command that
only calls services (`kaifang sandbox-run`, `kaifang run-worker`) loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.config import instance_path, load_config
from portal.core import Core

if TYPE_CHECKING:
    from flask import Flask


def create_core(test_config: dict[str, Any] | None = None, *, instance: Path | None = None) -> Core:
    """Configuration, database and models, without Flask: enough to call any service that takes
    its database session as an argument (docs/decisions/0023b)."""
    instance = (instance or instance_path()).resolve()
    core = Core(load_config(instance, test_config, rate_limits=False), str(instance))
    _init_models_and_db(core)
    return core


def create_core_app(test_config: dict[str, Any] | None = None, *, instance: Path | None = None) -> Flask:
    """Configuration, database and models on a Flask app: the base of the web app."""
    from flask import Flask  # noqa: PLC0415 - the commands that need no web do not load it

    instance = (instance or instance_path()).resolve()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=False)
    app.config.update(load_config(instance, test_config))
    app.json.ensure_ascii = False  # Chinese stays readable in JSON responses
    _init_models_and_db(app)
    return app


def _init_models_and_db(app: Flask | Core) -> None:
    from portal import db

    import_models()
    db.init_app(app)


def import_models() -> None:
    """Every table on `Base.metadata` (the command server imports them before it forks)."""
    from portal.access import models as _access_models  # noqa: F401 - every table on Base.metadata
    from portal.accounts import models as _accounts_models  # noqa: F401
    from portal.analysis import models as _analysis_models  # noqa: F401
    from portal.catalog import models as _catalog_models  # noqa: F401
    from portal.catalog import outbox as _outbox  # noqa: F401
    from portal.sessions import models as _session_models  # noqa: F401


def create_app(test_config: dict[str, Any] | None = None, *, instance: Path | None = None) -> Flask:
    app = create_core_app(test_config, instance=instance)

    from flask import current_app, has_app_context

    from portal import errors, extensions, filters, search
    from portal.access import identity
    from portal.access.views import bp as access_bp
    from portal.accounts.views import bp as accounts_bp
    from portal.analysis import keys, private_samples
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

    def write_sample(table, path, *, target, seed, rules):
        # seeded under the disclosure key, never by the checksum alone (decision 0024c); in the
        # dataset's mode, the ε-budget mode's sample spending the sample's ε (decision 0031a)
        config = current_app.config if has_app_context() else app.config
        return private_samples.write_version_sample(config, table, path, target=target, seed=seed, rules=rules)

    catalog_staging.set_sample_writer(write_sample)

    def identity_key(config):
        # the identity digests' key: a sub-key of the disclosure key (decision 0031e)
        try:
            return keys.load_key(config).derive(identity.KEY_PURPOSE)
        except keys.MissingKey as exc:
            raise identity.Unavailable("this portal has no disclosure key yet, so it takes no application "
                                       "for conditional data") from exc

    identity.set_key_reader(identity_key)
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
