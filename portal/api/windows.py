"""Rate-limit counting in one Redis round trip per request (`kaifang+redis://`).

Flask-Limiter counts a caller's windows one by one and reads each window back for the headers:
with limits' `RedisStorage` that is an increment, a GET and a TTL per window, six round trips
for a key with a minute and a day limit (~28 % of a cheap API call, decision 0018a). Here:

- `announce(windows)`: before counting, the API's limit function names the storage keys of all
  windows of this request (in the order Flask-Limiter counts them) on `flask.g`;
- `OneTripRedisStorage.incr` of the first announced key runs one Lua script that increments the
  windows in order, stops after the first one over its limit (as Flask-Limiter stops at the first
  breach), and returns every counted window's count and time to live; the later `incr`, `get`
  and `get_expiry` calls of those keys in the same request are answered from that result.

Anything not announced (sign-in and mail throttles, a key layout Flask-Limiter might change)
takes limits' ordinary path, so a mismatch costs speed, never correctness. Errors propagate
unchanged: Flask-Limiter then falls back to its memory storage as before. It must not hold a
result beyond the request that made it (`g` is per request).

The script call itself goes over a connection of the calling thread's own, packed here and sent
without redis-py's per-command machinery (pool checkout and its `can_read` poll, retry wrapper,
encoder, response callbacks; decision 0022g: about half the client CPU of a counted call). A
connection error retries once on a new connection, as redis-py would, then propagates; a server
that lost the script (restart, `SCRIPT FLUSH`) gets it again through redis-py's own call.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from flask import g, has_app_context
from limits.storage import RedisStorage

SCHEMES = {"redis": "kaifang+redis", "rediss": "kaifang+rediss", "redis+unix": "kaifang+redis+unix"}

# KEYS: the windows in counting order; ARGV: expiry and limit of each window, then the amount.
# Returns count and remaining seconds (TTL) of each window counted.
COUNT_WINDOWS = """
local amount = tonumber(ARGV[#ARGV])
local out = {}
for i, key in ipairs(KEYS) do
    local count = redis.call("incrby", key, amount)
    if count == amount then
        redis.call("expire", key, ARGV[2 * i - 1])
    end
    out[#out + 1] = count
    out[#out + 1] = redis.call("ttl", key)
    if count > tonumber(ARGV[2 * i]) then
        break
    end
end
return out
"""


@dataclass(frozen=True)
class Window:
    """One limit window of this request: its storage key (unprefixed), length and limit."""

    key: str
    expiry: int
    amount: int


def announce(windows: list[Window]) -> None:
    """Name this request's windows, in counting order, so they are counted in one trip."""
    g.kaifang_windows = windows


class OneTripRedisStorage(RedisStorage):
    """limits' Redis storage, counting announced windows with one script call (see module doc)."""

    STORAGE_SCHEME = list(SCHEMES.values())

    def __init__(self, uri: str, **options):
        scheme, _, rest = uri.partition("://")
        super().__init__(f"{scheme.removeprefix('kaifang+')}://{rest}", **options)

    def initialize_storage(self, uri: str) -> None:
        # redis-py is a production dependency: imported here, where a Redis storage is made, so
        # that the embedded profile (`pip install -e .`, memory://) runs without it.
        from redis import exceptions as redis_errors  # noqa: PLC0415

        super().initialize_storage(uri)
        self.lua_count_windows = self.get_connection().register_script(COUNT_WINDOWS)
        self._own = threading.local()
        self._retry_on = (redis_errors.ConnectionError, redis_errors.TimeoutError)
        self._no_script = redis_errors.NoScriptError

    def count_windows(self, keys: list[str], args: list[int]) -> list[int]:
        """Run the counting script on this thread's own connection (see module doc)."""
        packed = pack_command("EVALSHA", self.lua_count_windows.sha, len(keys), *keys, *args)
        try:
            try:
                return self._send(packed)
            except self._retry_on:
                return self._send(packed)  # once more on a new connection, as redis-py retries
        except self._no_script:
            return self.lua_count_windows(keys, args)

    def _send(self, packed: bytes) -> list[int]:
        connection = self._thread_connection()
        try:
            connection.send_packed_command([packed], check_health=False)
            return connection.read_response()
        except self._no_script:
            raise  # a whole reply: the connection is still in step
        except BaseException:
            # A reply may be left unread (a timeout, an interrupt): never read it as the next one.
            connection.disconnect()
            self._own.connection = None
            raise

    def _thread_connection(self):
        held = getattr(self._own, "connection", None)
        if held is None or held[0] != os.getpid():  # none yet, or made before a fork
            pool = self.get_connection().connection_pool
            held = self._own.connection = (os.getpid(), pool.connection_class(**pool.connection_kwargs))
        return held[1]

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        counted = _counted()
        if counted is not None and key in counted:
            return counted[key][0]
        windows = _announced(key)
        if windows is None or amount != 1:
            return super().incr(key, expiry, amount)
        flat = self.count_windows([self.prefixed_key(w.key) for w in windows],
                                  [*(v for w in windows for v in (w.expiry, w.amount)), amount])
        now = time.time()
        g.kaifang_counted = {w.key: (int(flat[2 * i]), max(int(flat[2 * i + 1]), 0) + now)
                             for i, w in enumerate(windows[:len(flat) // 2])}
        return g.kaifang_counted[key][0]

    def get(self, key: str) -> int:
        counted = _counted()
        if counted is not None and key in counted:
            return counted[key][0]
        return super().get(key)

    def get_expiry(self, key: str) -> float:
        counted = _counted()
        if counted is not None and key in counted:
            return counted[key][1]
        return super().get_expiry(key)


def pack_command(*args: object) -> bytes:
    """A command in Redis's protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _counted() -> dict[str, tuple[int, float]] | None:
    return g.get("kaifang_counted") if has_app_context() else None


def _announced(key: str) -> list[Window] | None:
    if not has_app_context():
        return None
    windows = g.get("kaifang_windows")
    if not windows or windows[0].key != key:
        return None
    return windows
