"""The review clock counts China's working days: public holidays off, make-up workdays (调休) on."""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.access.workdays import add_working_days, calendar


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("submitted", "days", "due", "why"), [
    # Mon 2026-11-30 10:00 in Beijing (02:00 UTC): two ordinary working days.
    ("2026-11-30T02:00", 2, "2026-12-02T02:00", "ordinary week"),
    # Fri 2026-02-13: Sat 14 Feb is a make-up workday (1), the Spring Festival 15–23 Feb is off, Tue 24 (2).
    ("2026-02-13T02:00", 2, "2026-02-24T02:00", "Spring Festival with a make-up Saturday"),
    # Wed 2026-09-30: 1–7 Oct National Day off, Thu 8 (1), Fri 9 (2).
    ("2026-09-30T02:00", 2, "2026-10-09T02:00", "National Day"),
    # Fri 2026-10-09: Sat 10 Oct is a make-up workday (1), Mon 12 (2).
    ("2026-10-09T02:00", 2, "2026-10-12T02:00", "make-up Saturday after National Day"),
    # Sat 2026-11-28 (rest day): the clock starts Monday; due at the end of Tuesday, Beijing time.
    ("2026-11-28T02:00", 2, "2026-12-01T15:59:59", "submitted on a weekend"),
    # Thu 2024-12-31 23:30 Beijing is 15:30 UTC; 1 Jan 2025 is a holiday: Thu 2 Jan (1).
    ("2024-12-31T15:30", 1, "2025-01-02T15:30", "New Year's Day, across years"),
    # Fri 2025-01-24: Sun 26 Jan make-up (1), Mon 27 (2); Spring Festival 28 Jan–4 Feb off.
    ("2025-01-24T02:00", 3, "2025-02-05T02:00", "Spring Festival 2025 with a make-up Sunday"),
])
def test_due_dates(submitted, days, due, why):
    assert add_working_days(utc(submitted), days) == utc(due), why


def test_the_bundled_data_knows_its_years_and_admits_the_others():
    cal = calendar()
    assert all(cal.covered(y) for y in (2024, 2025, 2026))
    assert not cal.covered(2030)
    assert cal.is_working_day(datetime(2026, 2, 28).date())  # make-up Saturday
    assert not cal.is_working_day(datetime(2026, 10, 5).date())  # National Day Monday
    assert cal.is_working_day(datetime(2030, 1, 7).date()) and not cal.is_working_day(datetime(2030, 1, 5).date())
