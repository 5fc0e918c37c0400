"""Signed, expiring tokens for the links in account mails (confirm an address, reset a password).

Tokens are itsdangerous signatures over the SECRET_KEY with one salt per purpose, so a token for
one purpose is worthless for the other. A reset token also carries a fingerprint of the current
password hash: once the password changes, every reset link sent before stops working.
"""

from __future__ import annotations

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRM = "kaifang-confirm-email"
RESET = "kaifang-reset-password"


class TokenInvalid(Exception):
    """The token is forged, for another purpose, or expired (`expired` tells which)."""

    def __init__(self, expired: bool):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def make_token(secret: str, purpose: str, payload: dict) -> str:
    return URLSafeTimedSerializer(secret, salt=purpose).dumps(payload)


def read_token(secret: str, purpose: str, token: str, *, max_age: int) -> dict:
    """The payload of a token made for `purpose` at most `max_age` seconds ago.

    Raises:
        TokenInvalid: bad signature, other purpose, malformed, or too old.
    """
    try:
        payload = URLSafeTimedSerializer(secret, salt=purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenInvalid(expired=True) from exc
    except BadSignature as exc:
        raise TokenInvalid(expired=False) from exc
    if not isinstance(payload, dict):
        raise TokenInvalid(expired=False)
    return payload
