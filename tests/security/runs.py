"""Many counts asked through the real broker, in runs short enough for the wall clock.

A run of analyst code has a wall-clock limit (`SANDBOX_WALL_SECONDS`, 10 s) and every count it
asks is checked against and written to the differencing memory inside that time: on the shared
two-core machine at load 5-7 (2 December 2026) runs of 55 and 50 counts timed out in rounds 29
and 31, and so did a run of thirty in round 31's drift measurement (a `timeout` result: the test
failing for the machine's load, not for what it asks). So the heavy red-team tests ask at most
`RUN` counts a run, and round twenty's worlds give a run a minute (`WORLD_CONFIG`): at load 8 a
run of twenty-one counts took longer than ten seconds. The memory is shared between runs (every query's step is committed before its
answer leaves); where a test cuts its runs changes only which cells a run keeps from earlier in
the same run (`Registry.cells`), which matters across a forgetting only (round 29's second test
asks across one in a single run on purpose, and does not use this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

RUN = 20  # counts a run: 0.15-0.3 s a count at load 5-7 on two cores, so 3-6 s of the 10


def in_runs(ask: Callable[[list[str]], list], plans: Sequence[str], size: int = RUN) -> list:
    """The answers to `plans`, in order, asked `size` at a time by `ask` (one run each)."""
    return [answer for first in range(0, len(plans), size) for answer in ask(list(plans[first:first + size]))]
