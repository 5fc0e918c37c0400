"""Which disclosure mode a grant on a conditional dataset is in, and its ε per query and per day.

A dataset chooses its mode in its descriptor: `kaifang.disclosure.mode` is "sdc" (statistical
disclosure control, the default: portal/analysis/disclosure.py) or "dp" (the ε-budget mode:
portal/analysis/private_queries.py), with optional `epsilon_per_query` and `daily_epsilon`. A
grant may override the mode and the daily ε (`Grant.disclosure_mode`, `Grant.daily_epsilon`);
the portal's settings `DP_DAILY_EPSILON` and `DP_QUERY_EPSILON` are the defaults.

`dp_bounds` (`{"cost": [0, 20000]}`) narrows, for this mode only, the range to which a field's
values are clamped before they are summed: the noise of a sum grows with the bound, so a field
declared 0..3,000,000 for its rare extremes is better summed clamped at a typical ceiling. It
must lie inside the field's declared bounds (`effective_bounds`), and is public like them.

Pure: no database; `disclosure.Rules` leaves these keys to this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = ("sdc", "dp")
PRIVACY_KEYS = frozenset({"mode", "epsilon_per_query", "daily_epsilon", "dp_bounds"})


@dataclass(frozen=True)
class EpsilonDefaults:
    """The portal-wide defaults (settings `DP_DAILY_EPSILON`, `DP_QUERY_EPSILON`)."""

    daily: float = 1.0
    per_query: float = 0.1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EpsilonDefaults:
        return cls(daily=_positive(config.get("DP_DAILY_EPSILON", cls.daily), "DP_DAILY_EPSILON"),
                   per_query=_positive(config.get("DP_QUERY_EPSILON", cls.per_query), "DP_QUERY_EPSILON"))


@dataclass(frozen=True)
class PrivacySettings:
    """The mode of one grant on one dataset, and its ε per query and per day."""

    mode: str = "sdc"
    epsilon_per_query: float = 0.1
    daily_epsilon: float = 1.0
    dp_bounds: tuple[tuple[str, tuple[float, float]], ...] = ()

    @classmethod
    def resolve(cls, disclosure: Mapping[str, Any] | None, *, grant_mode: str | None = None,
                grant_daily: float | None = None, defaults: EpsilonDefaults = EpsilonDefaults()) -> PrivacySettings:
        """Grant over dataset over portal defaults.

        Raises:
            ValueError: an unknown mode or an ε that is not a positive number.
        """
        declared = privacy_overrides(disclosure)
        mode = grant_mode or declared.get("mode", "sdc")
        if mode not in MODES:
            raise ValueError(f"disclosure mode must be one of {', '.join(MODES)}, not {mode!r}")
        daily = grant_daily if grant_daily is not None else declared.get("daily_epsilon", defaults.daily)
        per_query = declared.get("epsilon_per_query", defaults.per_query)
        clamps = tuple((name, (float(lo), float(hi))) for name, (lo, hi) in sorted(declared.get("dp_bounds", {}).items()))
        return cls(mode, _positive(per_query, "epsilon_per_query"), _positive(daily, "daily_epsilon"), clamps)

    def effective_bounds(self, declared: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """The declared bounds, narrowed by `dp_bounds` (never widened)."""
        bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in declared.items()}
        for name, (lo, hi) in self.dp_bounds:
            if name in bounds:
                low, high = max(lo, bounds[name][0]), min(hi, bounds[name][1])
                bounds[name] = (low, high) if low < high else bounds[name]
        return bounds


def privacy_overrides(disclosure: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ε-mode keys of a descriptor's `kaifang.disclosure`, checked.

    Raises:
        ValueError: an unknown mode or a non-positive ε.
    """
    found = {k: v for k, v in (disclosure or {}).items() if k in PRIVACY_KEYS}
    if "mode" in found and found["mode"] not in MODES:
        raise ValueError(f"kaifang.disclosure.mode must be one of {', '.join(MODES)}, not {found['mode']!r}")
    for key in ("epsilon_per_query", "daily_epsilon"):
        if key in found:
            _positive(found[key], key)
    _check_clamps(found.get("dp_bounds", {}))
    return found


def _check_clamps(clamps: Any) -> None:
    if not isinstance(clamps, dict):
        raise ValueError("kaifang.disclosure.dp_bounds maps field names to [lower, upper]")
    for name, pair in clamps.items():
        numbers = isinstance(pair, list | tuple) and len(pair) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
        if not numbers or pair[0] >= pair[1]:
            raise ValueError(f"kaifang.disclosure.dp_bounds[{name!r}] must be [lower, upper] with lower < upper")


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return float(value)
