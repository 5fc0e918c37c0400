"""Account services: create and register users, confirm addresses, reset passwords, build actors.

Passwords are hashed with Argon2id (argon2-cffi) and never stored or logged in clear. Links in
mails carry signed, expiring tokens (`portal.accounts.tokens`); these functions check them but
never send mail or build URLs (the views do), so the CLI and tests call them directly.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import column, func, select, table
from sqlalchemy.orm import Session

from portal.accounts import tokens
from portal.accounts.models import ROLES, User
from portal.auth import Actor
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, Gone, Invalid

_hasher = PasswordHasher()
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10


def create_user(session: Session, actor: Actor, *, email: str, password: str, role: str,
                department: str | None = None, display_name: str = "") -> User:
    """Create an account. Only admins (or the CLI's system actor) may.

    Raises:
        Forbidden: the actor is not an admin.
        Invalid: bad email, short password, unknown role or department.
        Conflict: the email is taken.
    """
    if not actor.at_least("admin"):
        raise Forbidden("only administrators create accounts")
    email = email.strip().lower()
    errors = _check_new_user(email, password, role)
    department_id = _department_id(session, department, errors)
    if role == "publisher" and department_id is None:
        errors.setdefault("department", []).append("a publisher belongs to one department")
    if errors:
        raise Invalid("the account cannot be created", errors=errors)
    if session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise Conflict(f"an account for {email} exists", code="email-taken")
    user = User(email=email, password_hash=_hasher.hash(password), role=role,
                department_id=department_id, display_name=display_name or email.split("@")[0],
                email_confirmed_at=utcnow())  # the operator vouches for the address
    session.add(user)
    session.commit()
    return user


def _check_new_user(email: str, password: str, role: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not EMAIL.match(email):
        errors["email"] = ["not an email address"]
    if len(password) < MIN_PASSWORD:
        errors["password"] = [f"at least {MIN_PASSWORD} characters"]
    if role not in ROLES:
        errors["role"] = [f"one of {', '.join(ROLES)}"]
    return errors


# A user's department is a foreign key into the catalog's `departments` table; accounts sit below
# the catalog (docs/architecture.md), so they name the two columns they read, not the model.
_DEPARTMENTS = table("departments", column("id"), column("slug"))


def _department_id(session: Session, slug: str | None, errors: dict[str, list[str]]) -> int | None:
    if not slug:
        return None
    found = session.scalar(select(_DEPARTMENTS.c.id).where(_DEPARTMENTS.c.slug == slug))
    if found is None:
        errors["department"] = [f"no department {slug!r}"]
    return found


def register_user(session: Session, *, email: str, password: str) -> User | None:
    """A new developer account, unconfirmed; None when the address has an account already.

    Public: anyone may register (the view throttles it). Returning None instead of raising lets the
    page answer the same either way, so registration does not tell who has an account.

    Raises:
        Invalid: bad email or short password.
    """
    email = email.strip().lower()
    errors = _check_new_user(email, password, "developer")
    if errors:
        raise Invalid("the account cannot be created", errors=errors)
    if _user_by_email(session, email) is not None:
        return None
    user = User(email=email, password_hash=_hasher.hash(password), role="developer",
                display_name=email.split("@")[0])
    session.add(user)
    session.commit()
    return user


def confirmation_token(user: User, *, secret: str) -> str:
    return tokens.make_token(secret, tokens.CONFIRM, {"u": user.id, "e": user.email})


def confirm_email(session: Session, token: str, *, secret: str, max_age: int) -> User:
    """Mark the address in a confirmation token as confirmed (again is harmless).

    Raises:
        Gone: the link expired.
        Invalid: the link is forged or its account or address changed.
    """
    payload = _read(token, tokens.CONFIRM, secret=secret, max_age=max_age)
    user = session.get(User, payload.get("u"))
    if user is None or user.email != payload.get("e"):
        raise Invalid("this confirmation link is not valid", code="bad-token")
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        session.commit()
    return user


def user_by_email(session: Session, email: str) -> User | None:
    """The active account of an address, for mails that go to it (confirmation, reset)."""
    user = _user_by_email(session, email.strip().lower())
    return user if user is not None and user.active else None


def reset_token(user: User, *, secret: str) -> str:
    fingerprint = tokens.password_fingerprint(user.password_hash)
    return tokens.make_token(secret, tokens.RESET, {"u": user.id, "p": fingerprint})


def check_reset_token(session: Session, token: str, *, secret: str, max_age: int) -> User:
    """The account a reset link is for, if the link is genuine, fresh and not used yet.

    Raises:
        Gone: the link expired.
        Invalid: forged, or used already (the password changed since it was sent).
    """
    payload = _read(token, tokens.RESET, secret=secret, max_age=max_age)
    user = session.get(User, payload.get("u"))
    if user is None or not user.active or tokens.password_fingerprint(user.password_hash) != payload.get("p"):
        raise Invalid("this reset link is not valid or was used already", code="bad-token")
    return user


def reset_password(session: Session, token: str, password: str, *, secret: str, max_age: int) -> User:
    """Set a new password through a reset link; the link (and any other sent before) then dies.

    A reset also confirms the address: the link reached its mailbox.

    Raises:
        Gone, Invalid: see `check_reset_token`; Invalid also for a short password.
    """
    user = check_reset_token(session, token, secret=secret, max_age=max_age)
    if len(password) < MIN_PASSWORD:
        raise Invalid("the password is too short", errors={"password": [f"at least {MIN_PASSWORD} characters"]})
    user.password_hash = _hasher.hash(password)
    user.email_confirmed_at = user.email_confirmed_at or utcnow()
    session.commit()
    return user


def _read(token: str, purpose: str, *, secret: str, max_age: int) -> dict:
    try:
        return tokens.read_token(secret, purpose, token, max_age=max_age)
    except tokens.TokenInvalid as exc:
        if exc.expired:
            raise Gone("this link has expired; ask for a new one", code="token-expired") from exc
        raise Invalid("this link is not valid", code="bad-token") from exc


def _user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email))


@dataclass(frozen=True)
class AccountView:
    """What the account page shows of its owner."""

    email: str
    display_name: str
    role: str
    created_at: datetime
    email_confirmed: bool


def get_account(session: Session, actor: Actor) -> AccountView:
    """The signed-in actor's own account.

    Raises:
        Forbidden: anonymous actor.
    """
    user = session.get(User, actor.user_id) if actor.user_id else None
    if user is None:
        raise Forbidden("sign in first")
    return AccountView(user.email, user.display_name, user.role, user.created_at, user.email_confirmed_at is not None)


def authenticate(session: Session, email: str, password: str) -> Actor | None:
    """The actor for these credentials, or None. Same work either way, so timing says little."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    stored = user.password_hash if user else dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return _actor(user)


def actor_for(session: Session, user_id: int) -> Actor | None:
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return _actor(user)


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)


@functools.cache
def dummy_hash() -> str:
    """The hash an unknown email is checked against, so it costs what a real one does. Made on
    first use, not at import (hashing is the slowest thing a command line would import); the
    web entry points (`wsgi.py`, `kaifang serve`) make it at start, so no sign-in pays for it."""
    return _hasher.hash("not-a-real-password-0")
