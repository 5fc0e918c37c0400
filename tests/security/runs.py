"""Many counts asked through the real broker, in runs short enough for the wall clock.

A run of analyst code has a wall-clock limit (`SANDBOX_WALL_SECONDS`, 10 s) and every count it
asks is checked against and written to the differencing memory inside that time: a run of fifty
or a hundred counts outlasted it on a busy two-core machine (a `timeout` result, the test failing
for the machine's load, not for what it asks). So the heavy red-team tests ask at most `RUN`
counts a run. The memory is shared between runs (every query's step is committed before its
answer leaves); where a test cuts its runs changes only which cells a run keeps from earlier in
the same run (`Registry.cells`), which matters across a forgetting only (round 29's second test
asks across one in a single run on purpose, and does not use this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

RUN = 30  # counts a run: ~5 s at load 5 on two cores, half the wall clock


def in_runs(ask: Callable[[list[str]], list], plans: Sequence[str], size: int = RUN) -> list:
    """The answers to `plans`, in order, asked `size` at a time by `ask` (one run each)."""
    return [answer for first in range(0, len(plans), size) for answer in ask(list(plans[first:first + size]))]
