"""`Core`: the configuration and the database of an instance, without Flask.

A command that only calls services — `kaifang sandbox-run`, `kaifang run-worker` — needs the
settings, the engine and every model, never a request, a template or a blueprint; importing
Flask and Werkzeug was a fifth of its start-up (docs/decisions/0023b). `Core` offers the part of
a Flask app's interface those paths use (`config`, `extensions`, `instance_path`,
`app_context()`), so `portal.db.session_scope`, `analysis.runtime.app_settings` and the session
queue take either. Services never read `flask.current_app` or `g`; they get their database
session as an argument, which is what lets them run under a `Core`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


class Core:
    def __init__(self, config: dict[str, Any], instance_path: str):
        self.config = config
        self.instance_path = instance_path
        self.extensions: dict[str, Any] = {}

    def app_context(self) -> AbstractContextManager[None]:
        """Nothing to push: no service reached from a `Core` reads Flask's context."""
        return nullcontext()
