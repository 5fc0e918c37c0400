"""The limiter's storages, which count all windows of a call at once (`count`).

A caller of the API has one to three windows (a key's minute and day; an address's minute). The
planned path of `limit_plans.PlannedLimiter` hands them all to the storage in one call, which
increments them in order, stops after the first one over its limit (as Flask-Limiter stops at
the first breach, so a breached minute does not spend the day), and returns each counted
window's count and reset time, which the headers need (Flask-Limiter would read each window back
with two more storage calls):

- `LeanMemoryStorage` (`kaifang+memory://`, for `memory://`): limits' memory storage without the
  timer thread it starts on every increment (decision 0010b); `count` is a few dict operations.
- `OneTripRedisStorage` (`kaifang+redis://`, for `redis://`, `rediss://`, `redis+unix://`):
  `count` is one Lua script in one round trip (decision 0018a), sent over a connection of the
  calling thread's own, packed here without redis-py's per-command machinery (pool checkout and
  its `can_read` poll, retry wrapper, encoder, response callbacks; decision 0022g), and its reply
  (an array of integers) read from the socket without redis-py's reader (decision 0023c). A connection
  error retries once on a new connection, as redis-py would, then propagates (Flask-Limiter then
  falls back to its memory storage); a server that lost the script (restart, `SCRIPT FLUSH`)
  gets it again through redis-py's own call.

Everything else (sign-in and mail throttles, Flask-Limiter's own path) uses the storages'
ordinary `incr`/`get`/`get_expiry`, unchanged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits.storage import MemoryStorage, RedisStorage

SCHEMES = {"redis": "kaifang+redis", "rediss": "kaifang+rediss", "redis+unix": "kaifang+redis+unix"}
SWEEP_SECONDS = 60

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
    """One fixed window of a call: its storage key (as Flask-Limiter builds it), length and limit."""

    key: str
    expiry: int
    amount: int


class LeanMemoryStorage(MemoryStorage):
    """`memory://` for fixed windows without a thread per call.

    limits' MemoryStorage starts a `threading.Timer` on every increment that follows 10 ms of
    quiet, to expire moving-window events; measured here at ~0.2 ms per call on an idle machine
    and more under load, which was most of what limiting cost (decision 0010b). Fixed-window
    counters need no timer: `get` already drops an expired counter, and a sweep once a minute,
    inline, bounds the memory held by callers that never come back.
    """

    STORAGE_SCHEME = ["kaifang+memory"]

    def __init__(self, uri: str | None = None, **options):
        super().__init__(uri, **options)
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return self._add(key, expiry, amount)

    def _add(self, key: str, expiry: float, amount: int) -> int:
        self.get(key)
        if time.monotonic() >= self._next_sweep:
            self._sweep()
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
        return self.storage.get(key, 0)

    def count(self, windows: Sequence[Window], amount: int = 1) -> list[tuple[int, float]]:
        """Count `windows` in order up to the first one over its limit: (count, reset time) each."""
        counted = []
        for window in windows:
            value = self._add(window.key, window.expiry, amount)
            counted.append((value, self.expirations.get(window.key, 0.0)))
            if value > window.amount:
                break
        return counted

    def _sweep(self) -> None:
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        now = time.time()
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


class OneTripRedisStorage(RedisStorage):
    """limits' Redis storage, counting a call's windows with one script call (see module doc)."""

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
        self._connection_error, self._timeout_error = redis_errors.ConnectionError, redis_errors.TimeoutError
        self._no_script, self._response_error = redis_errors.NoScriptError, redis_errors.ResponseError
        self._whole_reply = redis_errors.ResponseError  # NoScriptError is one

    def count(self, windows: Sequence[Window], amount: int = 1) -> list[tuple[int, float]]:
        """Count `windows` in order up to the first one over its limit, in one round trip:
        (count, reset time) each."""
        flat = self.count_windows([self.prefixed_key(w.key) for w in windows],
                                  [*(v for w in windows for v in (w.expiry, w.amount)), amount])
        now = time.time()
        return [(int(flat[i]), max(int(flat[i + 1]), 0) + now) for i in range(0, len(flat), 2)]

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
            return self._read_reply(connection._sock)
        except self._whole_reply:
            raise  # an error reply read whole: the connection is still in step
        except BaseException:
            # A reply may be left unread (a timeout, an interrupt): never read it as the next one.
            connection.disconnect()
            self._own.connection = None
            raise

    def _read_reply(self, sock) -> list[int]:
        """The script's reply (an array of integers, or an error), read from the socket itself:
        redis-py's reader (parser object, buffer, push-message checks) cost as much CPU as the
        round trip (decision 0023c). The connection is this thread's own and only ever carries
        this script, so no other reply can be in its buffer."""
        try:
            data = sock.recv(4096)
            while True:
                if not data:
                    raise self._connection_error("Redis closed the connection")
                if data.endswith(b"\r\n"):
                    if data[:1] == b"-":
                        message = data[1:-2].decode(errors="replace")
                        raise (self._no_script if message.startswith("NOSCRIPT") else self._response_error)(message)
                    lines = data.split(b"\r\n")
                    if data[:1] != b"*":
                        raise self._response_error(f"unexpected reply to the counting script: {data[:40]!r}")
                    if len(lines) - 2 >= int(lines[0][1:]):
                        return [int(line[1:]) for line in lines[1:-1]]
                more = sock.recv(4096)
                if not more:
                    raise self._connection_error("Redis closed the connection")
                data += more
        except TimeoutError as error:  # socket.timeout
            raise self._timeout_error("Timeout reading from socket") from error
        except OSError as error:
            raise self._connection_error(f"Error while reading from socket: {error}") from error

    def _thread_connection(self):
        held = getattr(self._own, "connection", None)
        if held is None or held[0] != os.getpid():  # none yet, or made before a fork
            pool = self.get_connection().connection_pool
            held = self._own.connection = (os.getpid(), pool.connection_class(**pool.connection_kwargs))
        return held[1]


def pack_command(*args: object) -> bytes:
    """A command in Redis's protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
