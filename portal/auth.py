"""Who is asking: the `Actor` every service function receives first after the session.

Views resolve the actor once per request (`current_actor()`); services never look at the
request. Anonymous visitors are an actor too, with role `public`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, session

ROLE_RANK = {"public": 0, "developer": 1, "publisher": 2, "steward": 3, "admin": 4}


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str
    department_id: int | None = None
    email: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = Actor(user_id=None, role="public")
SYSTEM = Actor(user_id=None, role="admin", email="system")  # the CLI acting for the operator


def current_actor() -> Actor:
    """The actor of this request, from the signed session cookie (API keys come later)."""
    if "actor" not in g:
        g.actor = _actor_from_session()
    return g.actor


def _actor_from_session() -> Actor:
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
