"""API keys: make, list, revoke, rotate, re-tier, and look one up from the secret a client sent.

A key reads `kf_<prefix>_<secret>`. Only the prefix (public, shown on the account page and used
by the CLI) and the SHA-256 of the whole key are stored, so the key itself is shown once, when it
is made, and never again. Lookups go by the unique prefix and compare hashes in constant time.

This module knows nothing of HTTP: `portal.accounts.keyauth` reads the headers and calls `resolve_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import SCOPES, ApiKey, User
from portal.auth import Actor
from portal.db import utcnow
from portal.errors import Forbidden, Invalid, NotFound

KEY_PREFIX = "kf_"
PREFIX_CHARS = 10
MAX_EXPIRY_DAYS = 3650


@dataclass(frozen=True)
class KeySummary:
    """What the account page and the CLI show of a key (never its secret)."""

    prefix: str
    name: str
    scopes: tuple[str, ...]
    tier: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= utcnow():
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewKey:
    """A key just made: `secret` is the whole key, to be shown to its owner this once."""

    secret: str
    summary: KeySummary


@dataclass(frozen=True)
class ResolvedKey:
    """A valid key as the API sees it: its owner as an actor, its scopes and its tier."""

    key_id: int
    prefix: str
    scopes: frozenset[str]
    tier: str
    expires_at: datetime | None
    actor: Actor


class KeyRejected(Exception):
    """The presented key is malformed, unknown, revoked or expired; `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, actor: Actor, *, name: str, scopes: list[str], tier: str,
               expires_days: int | None = None) -> NewKey:
    """Make a key for the actor's own account.

    Raises:
        Forbidden: anonymous actor, or an account whose e-mail is not confirmed.
        Invalid: empty name, unknown scope, or an expiry out of range.
    """
    user = _own_user(session, actor)
    errors = _check_key_request(name, scopes, expires_days)
    if errors:
        raise Invalid("the key cannot be made", errors=errors)
    key, row = _new_row(user.id, name.strip(), sorted(set(scopes)), tier, expires_days)
    session.add(row)
    session.commit()
    return NewKey(key, summarize(row))


def _own_user(session: Session, actor: Actor) -> User:
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None or not user.active:
        raise Forbidden("sign in to manage API keys")
    if user.email_confirmed_at is None:
        raise Forbidden("confirm your e-mail address before making API keys", code="email-unconfirmed")
    return user


def _check_key_request(name: str, scopes: list[str], expires_days: int | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name.strip() or len(name.strip()) > 80:
        errors["name"] = ["a name of 1 to 80 characters"]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        errors["scopes"] = [f"one or more of {', '.join(SCOPES)}"]
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        errors["expires_days"] = [f"from 1 to {MAX_EXPIRY_DAYS} days"]
    return errors


def _new_row(user_id: int, name: str, scopes: list[str], tier: str, expires_days: int | None) -> tuple[str, ApiKey]:
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(30)}"
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    return key, ApiKey(user_id=user_id, name=name, prefix=prefix, secret_hash=hash_key(key), scopes=scopes,
                       tier=tier, expires_at=expires)


def list_keys(session: Session, actor: Actor) -> list[KeySummary]:
    """The actor's own keys, newest first (revoked ones too, so the history stays readable)."""
    if actor.user_id is None:
        return []
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == actor.user_id).order_by(ApiKey.id.desc()))
    return [summarize(row) for row in rows]


def revoke_key(session: Session, actor: Actor, prefix: str) -> KeySummary:
    """Revoke one key of the actor's (any key for admins and the CLI). Revoking twice is harmless.

    Raises:
        NotFound: no such key, or not the actor's.
    """
    row = _key_for(session, actor, prefix)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return summarize(row)


def rotate_key(session: Session, actor: Actor, prefix: str) -> NewKey:
    """Replace a key by a new one with the same name, scopes, tier and remaining lifetime.

    The old key stops working at once; its usage history stays under its prefix.

    Raises:
        NotFound: no such key, or not the actor's.
        Invalid: the key is revoked or expired already (make a new one instead).
    """
    old = _key_for(session, actor, prefix)
    if summarize(old).status != "active":
        raise Invalid("only an active key can be rotated", code="key-inactive")
    key, new = _new_row(old.user_id, old.name, list(old.scopes), old.tier, None)
    new.expires_at = old.expires_at
    old.revoked_at = utcnow()
    session.add(new)
    session.commit()
    return NewKey(key, summarize(new))


def set_tier(session: Session, actor: Actor, prefix: str, tier: str, *, tiers: list[str]) -> KeySummary:
    """Move a key to another rate-limit tier (one of the configured `tiers`).

    Raises:
        Forbidden: the actor is not an admin.
        NotFound: no such key.
        Invalid: the tier is not configured.
    """
    if not actor.at_least("admin"):
        raise Forbidden("only administrators change a key's tier")
    if tier not in tiers:
        raise Invalid(f"no tier {tier!r}", errors={"tier": [f"one of {', '.join(tiers)}"]})
    row = _key_for(session, actor, prefix)
    row.tier = tier
    session.commit()
    return summarize(row)


def _key_for(session: Session, actor: Actor, prefix: str) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix.removeprefix(KEY_PREFIX)))
    if row is None or not (actor.at_least("admin") or row.user_id == actor.user_id):
        raise NotFound("key", prefix)
    return row


def resolve_key(session: Session, key: str) -> ResolvedKey:
    """The key's owner and rights, for one API call.

    Raises:
        KeyRejected: malformed, unknown, revoked or expired key, or an inactive owner.
    """
    row = _key_and_owner(session, _prefix_of(key))
    if row is None or not hmac.compare_digest(row.ApiKey.secret_hash, hash_key(key)):
        raise KeyRejected("unknown")
    api_key, user = row.ApiKey, row.User
    if (refused := _refusal(api_key, user)) is not None:
        raise KeyRejected(refused)
    actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email,
                  scopes=frozenset(api_key.scopes), key_prefix=api_key.prefix)
    return ResolvedKey(api_key.id, api_key.prefix, frozenset(api_key.scopes), api_key.tier, api_key.expires_at, actor)


def key_still_usable(session: Session, prefix: str, scope: str) -> bool:
    """Whether the key of `prefix` would still be let through for `scope` now: not revoked
    (nor deleted), not expired, carrying the scope, its owner active. For work a key queued
    earlier and that runs later (a session's cells): it stops with the key."""
    row = _key_and_owner(session, prefix)
    return row is not None and _refusal(row.ApiKey, row.User) is None and scope in row.ApiKey.scopes


def _key_and_owner(session: Session, prefix: str):
    return session.execute(select(ApiKey, User).join(User, User.id == ApiKey.user_id)
                           .where(ApiKey.prefix == prefix)).first()


def _refusal(api_key: ApiKey, user: User) -> str | None:
    """Why a known key is not let through now ("revoked", "expired"), or None. One rule for a
    call's key and for work a key queued earlier, so a new key state cannot reach one and
    miss the other."""
    if api_key.revoked_at is not None or not user.active:
        return "revoked"
    if api_key.expires_at is not None and api_key.expires_at <= utcnow():
        return "expired"
    return None


def _prefix_of(key: str) -> str:
    body = key.removeprefix(KEY_PREFIX) if key.startswith(KEY_PREFIX) else None
    prefix, sep, secret = (body or "").partition("_")
    if not sep or len(prefix) != PREFIX_CHARS or len(secret) < 20 or len(key) > 200:
        raise KeyRejected("malformed")
    return prefix


def summarize(row: ApiKey) -> KeySummary:
    return KeySummary(prefix=row.prefix, name=row.name, scopes=tuple(row.scopes), tier=row.tier,
                      created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                      last_used_at=row.last_used_at)
