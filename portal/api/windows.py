"""The limiter's storages, which count all windows of a call at once (`count`).

A caller of the API has one to three windows (a key's minute and day; an address's minute). The
planned path of `limit_plans.PlannedLimiter` hands them all to the storage in one call, which
admits the call against all of them or refuses it at the first one without room (so a breached
minute does not spend the day), and returns each counted window's count and reset time, which
the headers need (Flask-Limiter would read each window back with two more storage calls):

- `LeanMemoryStorage` (`kaifang+memory://`, for `memory://`): limits' memory storage without the
  timer thread it starts on every increment (decision 0010b); `count` is a few dict operations.
- `OneTripRedisStorage` (`kaifang+redis://`, for `redis://`, `rediss://`, `redis+unix://`):
  **leased quota** (decision 0024b). A process draws a lease of permits for a caller's windows
  in one round trip (a Lua script that increments the shared counts by as many permits as the
  limit leaves room for: at most the room / (8 x expected workers), `lease_max`, and what the
  process used at its last lease's pace; one near the limit) and admits calls from it without a
  trip until it is spent, `lease_seconds` old, or its first window rolls. Permits are drawn
  before they are used, so no caller is ever admitted beyond its limit across processes; the
  unused permits of a stale lease go back with the next draw to each window still of the same
  generation. The headers report the shared count at the draw less the permits still held.
  `lease_max` 1 is one trip per call (decision 0018a). The script is sent over a connection of
  the calling thread's own, packed here without redis-py's per-command machinery (decision
  0022g), and its reply (an array of integers) read from the socket without redis-py's reader
  (decision 0023c). A connection error retries once on a new connection, as redis-py would,
  then propagates (Flask-Limiter then falls back to its memory storage; a lease already drawn
  keeps admitting until spent); a server that lost the script (restart, `SCRIPT FLUSH`) gets it
  again through redis-py's own call.

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

# The lease script (decision 0024b). KEYS: the windows in counting order. ARGV: for each window its
# expiry (s), limit and the expiry instant (Redis ms) of the generation that permits given back
# came from (0: none); then `want`, `divisor` and `giveback`.
#   1. Unused permits of an earlier lease (`giveback`) go back to each window whose key is still of
#      the generation they were drawn from (a window that rolled since is not touched).
#   2. The grant: `want`, but at most each window's room divided by `divisor` (at least 1), so a
#      worker never takes more than its share of what is left, and 1 near the limit. No room in a
#      window: a grant of 0 there, nothing is incremented (a refused call spends nothing).
#   3. Every window is incremented by the grant.
# Returns grant, the index of the window without room (0: none), then count, TTL (ms) and expiry
# instant (Redis ms) of each window up to that one (all of them when granted).
LEASE_WINDOWS = """
local n = #KEYS
local want = tonumber(ARGV[3 * n + 1])
local divisor = tonumber(ARGV[3 * n + 2])
local giveback = tonumber(ARGV[3 * n + 3])
local t = redis.call("time")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts, ttls = {}, {}
for i, key in ipairs(KEYS) do
    local count = tonumber(redis.call("get", key) or "0")
    local ttl = redis.call("pttl", key)
    if giveback > 0 and count > 0 and ttl > 0
            and math.abs(now + ttl - tonumber(ARGV[3 * i])) < tonumber(ARGV[3 * i - 2]) * 500 then
        count = redis.call("decrby", key, math.min(giveback, count))
    end
    counts[i], ttls[i] = count, ttl
end
local grant, full = want, 0
for i = 1, n do
    local room = tonumber(ARGV[3 * i - 1]) - counts[i]
    if room <= 0 then
        grant, full = 0, i
        break
    end
    local share = math.max(1, math.floor(room / divisor))
    if share < grant then
        grant = share
    end
end
local out = {grant, full}
for i, key in ipairs(KEYS) do
    if grant > 0 then
        counts[i] = redis.call("incrby", key, grant)
        if ttls[i] < 0 then
            redis.call("expire", key, ARGV[3 * i - 2])
            ttls[i] = tonumber(ARGV[3 * i - 2]) * 1000
        end
    elseif i > full then
        break
    end
    out[#out + 1] = counts[i]
    out[#out + 1] = math.max(ttls[i], 0)
    out[#out + 1] = now + math.max(ttls[i], 0)
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


@dataclass(eq=False)
class Lease:
    """Permits of one caller's windows drawn from Redis by this process and not used yet."""

    left: int  # permits drawn and not yet used
    granted: int  # permits drawn by the draws of this lease (for the rate of the next one)
    counts: list[int]  # each window's shared count after the draw
    resets: list[float]  # each window's reset (local clock, never later than Redis's)
    marks: list[int]  # each window's expiry instant in Redis's clock: which generation it is
    drawn: float  # when it was drawn (local clock)
    expires: float  # the first of: drawn + lease seconds, the first window's reset

    def view(self) -> list[tuple[int, float]]:
        """(count, reset) of each window as this process sees it: the shared count at the draw
        less the permits this process still holds (remaining = room left + our unused permits)."""
        left = self.left
        return [(count - left, reset) for count, reset in zip(self.counts, self.resets, strict=True)]


class OneTripRedisStorage(RedisStorage):
    """limits' Redis storage, counting a call's windows with one script call, and with leases
    of permits per process when `lease_max` > 1 (see module doc)."""

    STORAGE_SCHEME = list(SCHEMES.values())

    def __init__(self, uri: str, *, lease_max: int = 1, lease_seconds: float = 1.0, lease_workers: int = 4,
                 **options):
        scheme, _, rest = uri.partition("://")
        self.lease_max = max(1, int(lease_max))
        self.lease_seconds = float(lease_seconds)
        self.lease_divisor = 8 * max(1, int(lease_workers))
        self._leases: dict[tuple[Window, ...], Lease] = {}
        self._lease_lock = threading.Lock()
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        super().__init__(f"{scheme.removeprefix('kaifang+')}://{rest}", **options)

    def initialize_storage(self, uri: str) -> None:
        # redis-py is a production dependency: imported here, where a Redis storage is made, so
        # that the embedded profile (`pip install -e .`, memory://) runs without it.
        from redis import exceptions as redis_errors  # noqa: PLC0415

        super().initialize_storage(uri)
        self.lua_count_windows = self.get_connection().register_script(LEASE_WINDOWS)
        self._own = threading.local()
        self._retry_on = (redis_errors.ConnectionError, redis_errors.TimeoutError)
        self._connection_error, self._timeout_error = redis_errors.ConnectionError, redis_errors.TimeoutError
        self._no_script, self._response_error = redis_errors.NoScriptError, redis_errors.ResponseError

    def count(self, windows: Sequence[Window]) -> list[tuple[int, float]]:
        """Admit one call against `windows`: (count, reset time) of each window up to the first
        without room (whose count is then reported past its limit: the call is refused).

        From this process's lease when it holds an unused permit of these windows and the lease
        is still fresh; otherwise one round trip draws a new lease (one permit when leases are
        off, `lease_max` 1), giving back the unused permits of the old one."""
        if self.lease_max == 1:
            return self._draw(windows, None, time.time())[0]
        now = time.time()
        with self._lease_lock:
            lease = self._leases.get(windows)
            if lease is not None:
                if lease.left and now < lease.expires:
                    lease.left -= 1
                    return lease.view()
                # Stale or spent: its unused permits go back with the next draw, and no other
                # thread may use them meanwhile.
                self._leases.pop(windows)
        if time.monotonic() >= self._next_sweep:
            self._sweep(now)
        counted, drawn = self._draw(windows, lease, now)
        if drawn is not None:  # kept even when spent: its pace sizes the next draw
            with self._lease_lock:
                other = self._leases.get(windows)
                if other is not None and same_generation(windows, other.marks, drawn.marks):  # another thread's
                    other.left += drawn.left
                    other.granted += drawn.granted
                    other.counts = [max(a, b) for a, b in zip(other.counts, drawn.counts, strict=True)]
                else:
                    self._leases[windows] = drawn
        return counted

    def _want(self, lease: Lease | None, now: float) -> int:
        """How many permits to ask for: what this process used at the old lease's pace for half
        a lease's time (at most twice the old lease's use plus one, and `lease_max`)."""
        if lease is None:
            return 1
        used = lease.granted - lease.left
        elapsed = max(now - lease.drawn, 1e-6)
        return max(1, min(self.lease_max, 2 * used + 1, int(used * self.lease_seconds / 2 / elapsed)))

    def _draw(self, windows: Sequence[Window], old: Lease | None, now: float) -> tuple[list[tuple[int, float]],
                                                                                  Lease | None]:
        """One round trip: give back `old`'s unused permits, draw a lease; this call takes one
        permit of it. Returns the call's (count, reset) per window and the rest of the lease."""
        want = self._want(old, now)
        give, marks = (old.left, old.marks) if old is not None else (0, [0] * len(windows))
        args = [*(v for w, mark in zip(windows, marks, strict=True) for v in (w.expiry, w.amount, mark)),
                want, self.lease_divisor, give]
        sent = time.time()
        # A retry after a lost reply must not give the permits back twice (the first try may have
        # run): it gives none, so at worst they stay counted until the window ends.
        flat = self.count_windows([self.prefixed_key(w.key) for w in windows], args, retry=[*args[:-1], 0])
        grant, full = int(flat[0]), int(flat[1])
        counts = [int(c) for c in flat[2::3]]
        resets = [sent + int(ttl) / 1000 for ttl in flat[3::3]]
        if not grant:
            counts[full - 1] = max(counts[full - 1], windows[full - 1].amount + 1)  # refused
            return list(zip(counts, resets, strict=True)), None
        lease = Lease(grant - 1, grant, counts, resets, [int(m) for m in flat[4::3]], sent,
                      min(sent + self.lease_seconds, *resets))
        return lease.view(), lease

    def _sweep(self, now: float) -> None:
        """Forget the leases whose windows have all rolled: nothing of theirs can be given back.
        (A lease with a live window is kept until then, so its unused permits go back to that
        window, a key's day, when the caller comes back.)"""
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        with self._lease_lock:
            for windows, lease in list(self._leases.items()):
                if now >= max(lease.resets):
                    self._leases.pop(windows, None)

    def count_windows(self, keys: list[str], args: list[int], retry: list[int] | None = None) -> list[int]:
        """Run the counting script on this thread's own connection (see module doc); after a
        connection error, once more on a new connection, as redis-py retries, with `retry` as
        the arguments if given (the first try may have run)."""
        packed = pack_command("EVALSHA", self.lua_count_windows.sha, len(keys), *keys, *args)
        try:
            try:
                return self._send(packed)
            except self._retry_on:
                args = args if retry is None else retry
                return self._send(pack_command("EVALSHA", self.lua_count_windows.sha, len(keys), *keys, *args))
        except self._no_script:
            return self.lua_count_windows(keys, args)  # the script did not run: the same arguments

    def _send(self, packed: bytes) -> list[int]:
        connection = self._thread_connection()
        try:
            connection.send_packed_command([packed], check_health=False)
            return self._read_reply(connection._sock)
        except self._response_error:  # NoScriptError is one
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


def same_generation(windows: Sequence[Window], marks: Sequence[int], others: Sequence[int]) -> bool:
    """Whether two draws' expiry instants (Redis ms) are of the same generation of every window:
    they differ by a millisecond of rounding at most, where a window that rolled in between ends
    a whole window later (the script's test for giving permits back is the same)."""
    return all(abs(a - b) < w.expiry * 500 for w, a, b in zip(windows, marks, others, strict=True))


def pack_command(*args: object) -> bytes:
    """A command in Redis's protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
