"""Who is asking: the `Actor` every service function receives first after the session.

Views resolve the actor once per request (`current_actor()`); services never look at the
request. Anonymous visitors are an actor too, with role `public`.

Pages know a person by the signed session cookie. Everything under `/api/` knows a caller only
by an API key (`portal.accounts.keyauth`) or as anonymous, never by the cookie, so another site cannot
make a signed-in visitor's browser act through the API.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLE_RANK = {"public": 0, "developer": 1, "publisher": 2, "steward": 3, "admin": 4}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str
    department_id: int | None = None
    email: str | None = None
    # An API key's scopes and prefix; None for a person using the pages (all their role allows).
    scopes: frozenset[str] | None = None
    key_prefix: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def has_scope(self, scope: str) -> bool:
        """Whether a key-bearing actor's key carries `scope` (always true without a key)."""
        return self.scopes is None or scope in self.scopes


ANONYMOUS = Actor(user_id=None, role="public")
SYSTEM = Actor(user_id=None, role="admin", email="system")  # the CLI acting for the operator


def current_actor() -> Actor:
    """The actor of this request: from the API key under /api/, else from the session cookie."""
    from flask import g  # noqa: PLC0415 - services and commands import this module without the web

    if "actor" not in g:
        g.actor = _actor_from_key() if is_api_request() else _actor_from_session()
    return g.actor


def is_api_request() -> bool:
    from flask import request  # noqa: PLC0415

    return request.path.startswith("/api/")


def _actor_from_key() -> Actor:
    from portal.accounts.keyauth import current_key  # noqa: PLC0415 - the API package imports this module

    key = current_key()
    return key.actor if key else ANONYMOUS


def _actor_from_session() -> Actor:
    from flask import session  # noqa: PLC0415

    user_id = session.get("user_id")
    if not user_id:
        return ANONYMOUS
    from portal.accounts import service  # noqa: PLC0415 - avoids a cycle at import time
    from portal.db import get_session

    actor = service.actor_for(get_session(), user_id)
    if actor is None:
        session.pop("user_id", None)
        return ANONYMOUS
    return actor
