"""API key authentication for every route under `/api/`, and the scope checks routes declare.

How a caller is known: by `Authorization: Bearer kf_…` or `X-API-Key: kf_…`, else anonymous
(the CKAN-compatible API also takes CKAN's `X-CKAN-API-Key` and a bare `Authorization: kf_…`).
The session cookie is never read for the API (see `portal.auth.current_actor`), so a page on
another site cannot make a signed-in browser call the API as its user. A bad, revoked or expired
key answers 401 (problem+json, `WWW-Authenticate: Bearer`) after the rate limit by address has
counted the attempt, so guessing keys is throttled like any anonymous call.

Use in API routes (any blueprint whose routes live under /api/)::

    from portal.accounts.keyauth import current_key, require_key, require_scope

    @bp.get("/datasets/<slug>/rows")
    @require_scope("rows:read")        # anonymous allowed; a key must carry rows:read (else 403)
    def dataset_rows(slug): ...

    @bp.post("/sandbox/runs")
    @require_key("sandbox:run")        # a key with sandbox:run is required (401 without a key)
    def submit_run():
        key = current_key()            # ResolvedKey (prefix, scopes, tier, actor) or None
        actor = current_actor()        # the key's owner, with `actor.scopes` set; ANONYMOUS without a key

Services may also check `actor.has_scope("rows:read")`, which is true for people using pages.

A looked-up key is cached in the worker for KEY_CACHE_SECONDS, so a call costs no database
read; revoking from the account page clears this worker's cache at once, other workers (and the
CLI) take up to that many seconds. Each call is counted per key per day in memory
(`portal.accounts.usage`), never by a write on the request path.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, g, request

from portal.accounts import keys as key_service
from portal.accounts.keys import KeyRejected, ResolvedKey
from portal.accounts.models import SCOPES
from portal.accounts.usage import UsageBuffer
from portal.auth import is_api_request
from portal.db import database, get_session, utcnow
from portal.errors import N_, Forbidden, Unauthorized

API_KEY_HEADER = "X-API-Key"
CKAN_KEY_HEADER = "X-CKAN-API-Key"
CKAN_BLUEPRINT = "ckan"
CACHE_LIMIT = 10_000
_REASONS = {
    "malformed": "the API key is not in the form kf_<prefix>_<secret>",
    "unknown": "the API key is not known",
    "revoked": "the API key has been revoked",
    "expired": "the API key has expired",
    "scheme": "use `Authorization: Bearer <key>` or the X-API-Key header",
}


class InvalidKey(Unauthorized):
    code, title = "invalid-key", N_("Invalid API key")


class KeyRequired(Unauthorized):
    code, title = "key-required", N_("API key required")


class InsufficientScope(Forbidden):
    code, title = "insufficient-scope", N_("Insufficient scope")


class KeyCache:
    """Valid keys by hash, each trusted for `ttl` seconds; bounded so junk cannot grow it."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[float, ResolvedKey]] = {}

    def get(self, digest: str) -> ResolvedKey | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, key: ResolvedKey) -> None:
        if len(self._entries) >= CACHE_LIMIT:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, key)

    def forget(self, prefix: str) -> None:
        for digest, (_, key) in list(self._entries.items()):
            if key.prefix == prefix:
                self._entries.pop(digest, None)


def presented_key() -> str | None:
    """The key the request carries, '' for an Authorization header of another scheme, or None.

    On the CKAN-compatible API a key is also read where CKAN's clients put it (ckanapi sends
    both): `X-CKAN-API-Key`, and a bare `Authorization: <key>` without a scheme.
    """
    ckan = request.blueprint == CKAN_BLUEPRINT
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        return scheme if ckan and scheme and not value else ""
    for name in (API_KEY_HEADER, CKAN_KEY_HEADER) if ckan else (API_KEY_HEADER,):
        value = request.headers.get(name)
        if value is not None:
            return value.strip()
    return None


def lookup_key() -> ResolvedKey | KeyRejected | None:
    """This request's key, resolved once (cached on `g`); never raises. For the limiter's key."""
    if "api_key" not in g:
        g.api_key = _resolve(presented_key())
    return g.api_key


def _resolve(raw: str | None) -> ResolvedKey | KeyRejected | None:
    if raw is None:
        return None
    if raw == "":
        return KeyRejected("scheme")
    cache: KeyCache = current_app.extensions["kaifang.key_cache"]
    digest = key_service.hash_key(raw)
    cached = cache.get(digest)
    if cached is not None and (cached.expires_at is None or cached.expires_at > utcnow()):
        return cached
    try:
        found = key_service.resolve_key(get_session(), raw)
    except KeyRejected as rejected:
        return rejected
    cache.put(digest, found)
    return found


def current_key() -> ResolvedKey | None:
    """The valid key of this API request, or None for an anonymous caller.

    Raises:
        Unauthorized: the request carries a key that is malformed, unknown, revoked or expired.
    """
    found = lookup_key()
    if isinstance(found, KeyRejected):
        raise InvalidKey(_REASONS[found.reason],
                         headers={"WWW-Authenticate": 'Bearer realm="kaifang", error="invalid_token"'})
    return found


def require_scope(scope: str) -> Callable:
    """Route decorator: anonymous callers pass; a key must carry `scope` (403 otherwise)."""
    _check_known(scope)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_scope(scope)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def check_scope(scope: str) -> None:
    """Anonymous callers pass; a key must carry `scope`. For endpoints declared with
    `api.spec.endpoint`, which call this before parsing the request.

    Raises:
        Forbidden: `insufficient-scope`.
    """
    _check_known(scope)
    key = current_key()
    if key is not None and scope not in key.scopes:
        raise _missing_scope(scope)


def require_key(scope: str) -> Callable:
    """Route decorator: the caller must present a valid key that carries `scope`."""
    _check_known(scope)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require_key_now(scope)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def require_key_now(scope: str | None) -> None:
    """The caller must present a valid key that carries `scope` (for `spec.endpoint(auth="key")`);
    with `scope=None` any valid key will do.

    Raises:
        KeyRequired: no key. Forbidden: `insufficient-scope`.
    """
    if scope is not None:
        _check_known(scope)
    key = current_key()
    if key is None:
        if scope is None:
            raise KeyRequired("this call needs an API key (Authorization: Bearer <key>)",
                              headers={"WWW-Authenticate": 'Bearer realm="kaifang"'})
        raise KeyRequired(f"this call needs an API key with the {scope} scope",
                          headers={"WWW-Authenticate": f'Bearer realm="kaifang", scope="{scope}"'})
    if scope is not None and scope not in key.scopes:
        raise _missing_scope(scope)


def _check_known(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")


def _missing_scope(scope: str) -> Forbidden:
    return InsufficientScope(f"this API key lacks the {scope} scope",
                             headers={"WWW-Authenticate": f'Bearer realm="kaifang", error="insufficient_scope", scope="{scope}"'})


def forget_key(prefix: str) -> None:
    """Drop a revoked or rotated key from this worker's cache at once."""
    current_app.extensions["kaifang.key_cache"].forget(prefix)


def _authenticate() -> None:
    if is_api_request():
        current_key()  # a bad key is a 401 before any route runs


def _count_call(response: Response) -> Response:
    found = g.get("api_key")
    if isinstance(found, ResolvedKey):
        current_app.extensions["kaifang.usage"].record(found.key_id)
    return response


def init_app(app: Flask) -> None:
    """Attach key checking and call counting; call after the rate limiter (it counts bad keys)."""
    app.extensions["kaifang.key_cache"] = KeyCache(app.config["KEY_CACHE_SECONDS"])
    app.extensions["kaifang.usage"] = UsageBuffer(database(app).sessions, app.config["USAGE_FLUSH_SECONDS"])
    app.before_request(_authenticate)
    app.after_request(_count_call)
