"""Flask-Limiter with each endpoint's limits resolved once (`PlannedLimiter`, decision 0023c).

On every request Flask-Limiter works out again which limits apply: it looks up the view's
decorated limits, the blueprint's limits and every exemption, rebuilds each limit object, calls
the limit function and parses its string, then counts each window through the strategy and reads
each window back for the headers: ~0.2 ms of CPU per API call, a fifth of a cached page or of the
detail call, and it did the resolution on every HTML page too. None of it changes between
requests to one endpoint except the caller and its limit string, so `PlannedLimiter` asks
Flask-Limiter's own `resolve_limits` once per endpoint and keeps the answer:

- **no limit at all** (HTML pages, static files): nothing to do;
- **exactly the planned shared limit** (the API's one count per caller, `limits.attach`): with no
  method filter, exemption, conditional deduction, cost, meta limit or breach callback, on the
  fixed-window strategy and a storage that counts a call's windows at once (`windows.py`). Per
  request: the caller and its limit string in one key lookup, the windows of that pair (cached),
  one `count` of the storage (a dict operation, or a permit of the process's Redis lease, drawn in
  one round trip when spent: decision 0024b), the results recorded as
  Flask-Limiter's `RequestLimit`s with their windows filled in (`current_limits`, read by our
  headers, needs no further storage call), and Flask-Limiter's `RateLimitExceeded` on a breach,
  with the same storage keys, so both paths share one count;
- **anything else** (a decorated view, request filters, another strategy or storage), and every
  request while the storage is dead: Flask-Limiter's own path, unchanged. A storage error on the
  planned path marks the storage dead as Flask-Limiter does and hands the request to it, so the
  fallback to memory and the probing for recovery stay Flask-Limiter's.

Limits, exemptions and request filters are attached at start-up (`limits.attach`, before any
request); one attached to an endpoint after its first request would not be seen. A request
identifier of one's own (`RATELIMIT_REQUEST_IDENTIFIER`) turns planning off: plans are per
endpoint. Written against Flask-Limiter 4.1 (the pin
in pyproject.toml); `tests/integration/api/test_limit_plans.py` compares both paths.
"""

from __future__ import annotations

import functools
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

import flask
from flask.globals import request_ctx
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter._extension import LimiterContext
from flask_limiter._limits import RuntimeLimit
from flask_limiter.util import get_qualified_name
from limits import WindowStats, parse_many
from limits.strategies import FixedWindowRateLimiter

from portal.api.windows import Window


@dataclass(frozen=True)
class SharedLimit:
    """The shared limit the planned path serves: its scope and key function as given to
    Flask-Limiter, and `identify`, which returns (caller, limit string) in one lookup and must
    agree with the key function and the limit function given to Flask-Limiter."""

    scope: str
    key_func: Callable[[], str]
    identify: Callable[[], tuple[str, str]]


class CountedLimit(RequestLimit):
    """Flask-Limiter's `RequestLimit` whose window (reset time, remaining) was counted already."""

    def __init__(self, extension: weakref.ProxyType, limit: RuntimeLimit, args: list[str], key: str,
                 count: int, reset_at: float) -> None:
        self.extension = extension
        self.limit = limit.limit
        self.request_args = args
        self.key = key
        self.breached = count > limit.limit.amount
        self.shared = True
        self._window = WindowStats(reset_at, max(0, limit.limit.amount - count))


class Plan:
    """The planned path of the endpoints whose limits are the shared limit (one per limiter)."""

    def __init__(self, template: RuntimeLimit, prefix: str) -> None:
        self.template = template
        self.prefix = prefix
        self.windows = functools.lru_cache(maxsize=4096)(self._windows)

    def _windows(self, limit: str, caller: str) -> tuple[tuple[tuple[RuntimeLimit, list[str], str], ...],
                                                         tuple[Window, ...]]:
        """The windows of `caller` under `limit`, in the order and with the storage keys
        Flask-Limiter would count them (shortest first: `RateLimitItem` sorts by length)."""
        args = [self.prefix, caller, self.template.scope] if self.prefix else [caller, self.template.scope]
        entries = tuple((replace(self.template, limit=item), args, item.key_for(*args))
                        for item in sorted(parse_many(limit)))
        return entries, tuple(Window(key, lim.limit.get_expiry(), lim.limit.amount) for lim, _, key in entries)


NO_LIMITS = object()


class PlannedLimiter(Limiter):
    """Flask-Limiter with the resolution of each endpoint's limits kept (see module doc)."""

    def __init__(self, planned: SharedLimit, **options) -> None:
        super().__init__(**options)
        self._planned = planned
        self._plans: dict[str | None, object] = {}
        self._plannable = False
        self._plan: Plan | None = None
        self._proxy = weakref.proxy(self)

    def init_app(self, app: flask.Flask) -> None:
        self._plans.clear()
        # Plans are kept per endpoint: a request identifier of one's own (a path, say) is left to
        # Flask-Limiter, or the plans would grow with every distinct identity.
        self._plannable = self._request_identifier is None and not app.config.get("RATELIMIT_REQUEST_IDENTIFIER")
        super().init_app(app)

    @property
    def context(self) -> LimiterContext:
        """This request's bookkeeping, as Flask-Limiter's own property keeps it, reached without
        going through the request proxy three times (called ~6 times a request)."""
        ctx = request_ctx._get_current_object()
        try:
            contexts = ctx._limiter_request_context
        except AttributeError:
            contexts = ctx._limiter_request_context = defaultdict(LimiterContext)
        return contexts[self]

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if callable_name is None and in_middleware and self._plannable and self.enabled and not self._storage_dead:
            endpoint = self.identify_request()
            plan = self._plans.get(endpoint)
            if plan is None:
                plan = self._plans.setdefault(endpoint, self._make_plan(endpoint))
            if plan is NO_LIMITS:
                return None
            if isinstance(plan, Plan):
                return self._check_planned(plan)
        return super()._check_request_limit(callable_name, in_middleware)

    def _check_planned(self, plan: Plan) -> None:
        caller, limit = self._planned.identify()
        entries, windows = plan.windows(limit, caller)
        try:
            counted = self._storage.count(windows)
        except Exception:
            if self._in_memory_fallback_enabled:
                self.logger.warning("Rate limit storage unreachable - falling back to in-memory storage")
                self._storage_dead = True
            self.context.seen_limits.clear()
            return super()._check_request_limit()
        view_limits = [CountedLimit(self._proxy, lim, args, key, count, reset_at)
                       for (lim, args, key), (count, reset_at) in zip(entries, counted, strict=False)]
        if not view_limits:
            return None
        context = self.context
        context.view_rate_limits = view_limits
        context.view_rate_limit = view_limits[-1]
        if view_limits[-1].breached:
            breached = entries[len(view_limits) - 1][0]
            self.logger.info("ratelimit %s (%s) exceeded at endpoint: %s", breached.limit, caller, breached.scope)
            raise RateLimitExceeded(breached)
        context.view_rate_limit = view_limits[0]
        return None

    def _make_plan(self, endpoint: str | None) -> object:
        """NO_LIMITS, the shared plan, or False (Flask-Limiter's own path) for `endpoint`, from
        Flask-Limiter's own resolution of its limits."""
        if not endpoint or self._request_filters or self._meta_limits or self._on_breach \
                or not self._fail_on_first_breach:
            return False
        if endpoint.split(".")[-1] == "static":
            return NO_LIMITS
        app = flask.current_app
        view = app.view_functions.get(endpoint)
        name = get_qualified_name(view) if view else ""
        if name in self._marked_for_limiting or self.limit_manager.has_hints(endpoint):
            return False  # decorated views count in their wrapper; Flask-Limiter decides around it
        defaults, decorated = self.limit_manager.resolve_limits(app, endpoint, flask.request.blueprint, name,
                                                                in_middleware=True, marked_for_limiting=False)
        found = [*defaults, *decorated]
        if not found:
            return NO_LIMITS
        if not (all(self._is_planned(lim) for lim in found) and type(self._limiter) is FixedWindowRateLimiter
                and callable(getattr(self._storage, "count", None))):
            return False
        if self._plan is None:
            self._plan = Plan(found[0], self._key_prefix)
        return self._plan

    def _is_planned(self, lim: RuntimeLimit) -> bool:
        return (lim.key_func is self._planned.key_func and lim.shared and lim.scope == self._planned.scope
                and not lim.per_method and lim.methods is None and lim.exempt_when is None
                and lim.deduct_when is None and lim.on_breach is None and lim.cost == 1
                and not lim.meta_limits and lim.error_message is None)
