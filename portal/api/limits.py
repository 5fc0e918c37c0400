"""Rate limits: who is counted (key or address), how much (tier or anonymous), and the headers.

- API calls with a valid key count against the key, with its tier's limits (RATELIMIT_TIERS);
  every other API call (anonymous, or a bad key) counts against the client address
  (RATELIMIT_ANON). One count per caller covers the whole API (a shared scope), not one per route.
- Sign-in, registration and mail requests are throttled per address and per account (e-mail);
  per account only failed sign-ins count, so a person who signs in often is never locked out.
- Every limited response carries `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-
  headers-11) and the `X-RateLimit-Limit/-Remaining/-Reset` that existing clients read; a 429
  carries `Retry-After`, the seconds until the breached window resets.

Flask-Limiter's own header writer is off: it also sends Retry-After on every 200 and reports
only one limit. The client address is `request.remote_addr`, which `ProxyFix` (PROXY_TRUSTED_HOPS)
sets to the real client behind trusted proxies.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits import RateLimitItem

from portal.accounts import keyauth
from portal.accounts.keyauth import lookup_key
from portal.accounts.keys import ResolvedKey
from portal.api import limit_plans, windows
from portal.config import parse_tiers

log = logging.getLogger(__name__)

LIMITED_BLUEPRINTS = ("api", "ckan")
# Pages that stream data or compute: a person browsing other pages is never throttled.
LIMITED_ENDPOINTS = ("catalog.chart_data", "catalog.chart_csv", "catalog.map_points", "catalog.download", "catalog.sample",
                     "analysis.public_aggregate")
SIGN_IN_ENDPOINTS = ("accounts.login", "accounts.register")
MAIL_ENDPOINTS = ("accounts.register", "accounts.forgot_password", "accounts.resend_confirmation")


API_SCOPE = "api"  # one shared count for the whole API (and the CKAN API)


def storage_uri(configured: str) -> str:
    """The configured storage, with `memory://` served by `windows.LeanMemoryStorage` and
    `redis://` (`rediss://`, `redis+unix://`) by `windows.OneTripRedisStorage`."""
    if configured.startswith("memory://"):
        return "kaifang+memory://"
    scheme, _, rest = configured.partition("://")
    return f"{windows.SCHEMES[scheme]}://{rest}" if scheme in windows.SCHEMES else configured


def api_identity() -> tuple[str, str]:
    """The caller of this API call and its limits, from one lookup of its key: the key's prefix
    and its tier's limits, else the client address and the anonymous limit."""
    found = lookup_key()
    if isinstance(found, ResolvedKey):
        tiers = current_app.extensions["kaifang.tiers"]
        limit = tiers.get(found.tier) or tiers[current_app.config["RATELIMIT_DEFAULT_TIER"]]
        return f"key:{found.prefix}", limit
    return f"addr:{get_remote_address()}", current_app.config["RATELIMIT_ANON"]


def api_caller() -> str:
    """The limiter's key for an API call (Flask-Limiter's own path; see `api_identity`)."""
    return api_identity()[0]


def api_limits() -> str:
    """The limits of this API call (Flask-Limiter's own path; see `api_identity`)."""
    return api_identity()[1]


API_LIMIT = limit_plans.SharedLimit(API_SCOPE, api_caller, api_identity)


def submitted_account() -> str:
    """The e-mail a form submits, hashed (limit keys should not hold addresses in clear)."""
    email = (request.form.get("email") or "").strip().lower()
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _setting(name: str):
    return lambda: current_app.config[name]


def _failed(response: Response) -> bool:
    return response.status_code != 302


def attach(app: Flask, limiter: Limiter) -> None:
    """Attach every limit of the app to its blueprints and endpoints (after they are registered)."""
    app.extensions["kaifang.tiers"] = parse_tiers(app.config["RATELIMIT_TIERS"])
    for name in LIMITED_BLUEPRINTS:
        limiter.shared_limit(api_limits, scope=API_SCOPE, key_func=api_caller)(app.blueprints[name])
    wrap = _wrapper(app)
    for endpoint in LIMITED_ENDPOINTS:
        wrap(endpoint, limiter.limit(_setting("RATELIMIT_ANON")))
    for endpoint in SIGN_IN_ENDPOINTS:
        wrap(endpoint, limiter.shared_limit(_setting("RATELIMIT_LOGIN_ADDRESS"), scope="sign-in", methods=["POST"]))
    wrap("accounts.login", limiter.limit(_setting("RATELIMIT_LOGIN_ACCOUNT"), key_func=submitted_account,
                                         methods=["POST"], deduct_when=_failed))
    for endpoint in MAIL_ENDPOINTS:
        wrap(endpoint, limiter.shared_limit(_setting("RATELIMIT_MAIL"), scope="mail", methods=["POST"]))
        wrap(endpoint, limiter.shared_limit(_setting("RATELIMIT_MAIL"), scope="mail-account",
                                            key_func=submitted_account, methods=["POST"]))
    # First in the list, so it runs last (Flask runs after-request functions in reverse order): the
    # headers go on whatever response the other hooks leave (a 304 of `api.http.finish` too), and
    # their own header reads and writes (security headers, CORS, compression) never scan ours.
    app.after_request_funcs.setdefault(None, []).insert(0, lambda response: add_headers(limiter, response))


def _wrapper(app: Flask):
    def wrap(endpoint: str, decorator) -> None:
        app.view_functions[endpoint] = decorator(app.view_functions[endpoint])
    return wrap


def add_headers(limiter: Limiter, response: Response) -> Response:
    """Write the rate-limit headers of the limits this request was counted against."""
    limits = limiter.current_limits
    if not limits:
        return response
    try:
        _write_headers(response, limits, limiter.current_limit or limits[0])
    except Exception:  # the storage went away between counting and reporting; the answer stands
        log.warning("could not read rate-limit windows for the headers", exc_info=True)
    return response


def _write_headers(response: Response, limits: list[RequestLimit], main: RequestLimit) -> None:
    now = time.time()
    names, policy = _policies(tuple((limit.limit, limit.request_args[-1]) for limit in limits))
    states = [f'"{name}";r={max(0, limit.remaining)};t={max(0, int(limit.reset_at - now))}'
              for name, limit in zip(names, limits, strict=True)]
    values = [("RateLimit-Policy", policy), ("RateLimit", ", ".join(states)),
              ("X-RateLimit-Limit", str(main.limit.amount)), ("X-RateLimit-Remaining", str(max(0, main.remaining))),
              ("X-RateLimit-Reset", str(main.reset_at))]
    if response.status_code == 429:
        breached = [limit for limit in limits if limit.breached] or [main]
        values.append(("Retry-After", str(max(1, int(max(b.reset_at for b in breached) - now)))))
        for name, value in values:  # the 429 handler copied some of them from the exception: replace
            response.headers[name] = value
        return
    for name, value in values:  # nothing else writes them (Flask-Limiter's writer is off): no search
        response.headers.add(name, value)


@functools.lru_cache(maxsize=256)
def _policies(limits: tuple[tuple[RateLimitItem, str], ...]) -> tuple[tuple[str, ...], str]:
    """The policy names and the `RateLimit-Policy` value of a set of limits (the same few sets
    for every call: worked out once each)."""
    names = tuple(_policy_name(item, scope) for item, scope in limits)
    return names, ", ".join(f'"{name}";q={item.amount};w={item.get_expiry()}'
                            for name, (item, _) in zip(names, limits, strict=True))


def _policy_name(item: RateLimitItem, scope: str) -> str:
    unit = item.GRANULARITY.name
    window = unit if item.multiples == 1 else f"{item.multiples}{unit}"
    return f"{scope}-{window}" if scope != API_SCOPE else window


def init_app(app: Flask) -> None:
    """Attach rate limits; call after the blueprints are registered.

    Flask-Limiter keeps its storage and key prefix on the Limiter object, so each app gets its own
    (tests build many apps in one process; production has one per worker). If the storage (Redis)
    stops answering, counting falls back to this worker's memory and the API keeps answering.
    """
    uri = storage_uri(app.config["RATELIMIT_STORAGE_URI"])
    leases = {"lease_max": app.config["RATELIMIT_LEASE_MAX"], "lease_seconds": app.config["RATELIMIT_LEASE_SECONDS"],
              "lease_workers": app.config["RATELIMIT_LEASE_WORKERS"]} if uri.startswith("kaifang+redis") else {}
    limiter = limit_plans.PlannedLimiter(API_LIMIT, key_func=get_remote_address, headers_enabled=False,
                                         in_memory_fallback_enabled=True, storage_uri=uri, storage_options=leases,
                                         key_prefix=app.config["RATELIMIT_KEY_PREFIX"])
    limiter.init_app(app)
    attach(app, limiter)
    keyauth.init_app(app)
    app.extensions["kaifang.limiter"] = limiter
