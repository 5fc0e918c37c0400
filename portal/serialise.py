"""Turning service dataclasses and store values into JSON-safe structures: the one JSON value
converter of the API, the sandbox's answers, the audit, charts and maps. (`store/cursors.py`
encodes cursor keys its own way: a token, where a decimal must stay exact text.)"""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any


def plain(value: Any, *, utc: bool = False) -> Any:
    """JSON-safe copy: dataclasses to dicts, dates to ISO strings, NaN to null.

    With `utc`, a timestamp without a zone is written with `Z`, as the exports write it, for
    clients that put it on a UTC axis (charts); without, as it is (the broker's answers).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), utc=utc) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v, utc=utc) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, utc=utc) for v in value]
    if utc and isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat() + "Z"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (str, int, float)):
        return value
    return float(value) if hasattr(value, "__float__") else str(value)  # e.g. a UUID or an interval
