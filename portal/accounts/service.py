"""Account services: create users, check passwords, build actors.

Passwords are hashed with Argon2id (argon2-cffi) and never stored or logged in clear.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.accounts.models import ROLES, User
from portal.auth import Actor
from portal.catalog.models import Department
from portal.errors import Conflict, Forbidden, Invalid

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
                department_id=department_id, display_name=display_name or email.split("@")[0])
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


def _department_id(session: Session, slug: str | None, errors: dict[str, list[str]]) -> int | None:
    if not slug:
        return None
    found = session.scalar(select(Department.id).where(Department.slug == slug))
    if found is None:
        errors["department"] = [f"no department {slug!r}"]
    return found


def authenticate(session: Session, email: str, password: str) -> Actor | None:
    """The actor for these credentials, or None. Same work either way, so timing says little."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    stored = user.password_hash if user else _DUMMY_HASH
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


_DUMMY_HASH = _hasher.hash("not-a-real-password-0")
