"""Working days in mainland China, for the review clock of applications (its SLA).

A day is a working day when it is a Monday to Friday that is not a public holiday, or a
make-up workday (调休: a Saturday or Sunday worked in exchange for a bridge holiday). The
holidays and make-up workdays are the State Council's yearly notices, bundled as
`holidays.json` (one entry per year, added when the notice for the next year comes out each
November). A year missing from the file is counted Monday to Friday, and `covered` says so,
so the queue page can warn the steward instead of silently trusting a guess.

Must not: read a clock (callers pass the instant), or the network.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

HOLIDAYS_FILE = Path(__file__).with_name("holidays.json")
CHINA = timezone(timedelta(hours=8))  # China Standard Time, no daylight saving


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def covered(self, year: int) -> bool:
        """Whether the bundled data knows this year's holidays."""
        return year in self.years


@functools.cache
def calendar(path: Path = HOLIDAYS_FILE) -> Calendar:
    data = json.loads(path.read_text(encoding="utf-8"))["years"]
    holidays, workdays = set(), set()
    for year in data.values():
        holidays.update(date.fromisoformat(d) for d in year["holidays"])
        workdays.update(date.fromisoformat(d) for d in year["workdays"])
    return Calendar(frozenset(holidays), frozenset(workdays), frozenset(int(y) for y in data))


def add_working_days(start: datetime, days: int, cal: Calendar | None = None) -> datetime:
    """The deadline `days` working days after `start` (naive UTC in, naive UTC out).

    Counted in China's time zone: a request in on a working day is due at the same time of day
    `days` working days later; one in on a rest day is due at the end of the `days`-th working
    day after it (the clock starts with the next working day).
    """
    cal = cal or calendar()
    local = start.replace(tzinfo=UTC).astimezone(CHINA)
    day = local.date()
    if not cal.is_working_day(day):
        local = datetime.combine(day, time(23, 59, 59), CHINA)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if cal.is_working_day(day):
            counted += 1
    due = datetime.combine(day, local.timetz())
    return due.astimezone(UTC).replace(tzinfo=None)

