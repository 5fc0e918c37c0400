"""The disclosure settings a dataset declares in its descriptor (`kaifang.disclosure`): the `Rules`
of statistical disclosure control, which disclosure mode a grant on a conditional dataset is in,
and its ε per query and per day. They are public metadata of the data dictionary, checked when a
package is read (catalog) and applied by the broker (analysis), so they live below both.

A dataset chooses the mode of analysts' grants in its descriptor: `kaifang.disclosure.mode` is
"sdc" (statistical disclosure control, the default: portal/analysis/disclosure.py) or "dp" (the
ε-budget mode: portal/analysis/private_queries.py), with optional `epsilon_per_query` and
`daily_epsilon`. A grant may override the mode and the daily ε (`Grant.disclosure_mode`,
`Grant.daily_epsilon`): the steward approves an accredited analyst in "sdc" on a dataset whose
outside analysts are in "dp" (decision 0030q). `lifetime_epsilon` (a grant's own:
`Grant.lifetime_epsilon`) is the ε a grant adds, over its whole life, to what its account has
spent on the dataset (decision 0030u). The portal's settings `DP_DAILY_EPSILON`,
`DP_QUERY_EPSILON` and `DP_LIFETIME_DAYS` (the lifetime as days of the daily ε) are the defaults. `public_aggregates` (default true) lets the publisher turn
the dataset's public aggregates off; they are answered in the statistical mode whatever the
grants' mode (a fixed family of tables, no filters: docs/disclosure.md).

`dp_bounds` (`{"cost": [0, 20000]}`) narrows, in both modes, the range to which a field's
values are clamped before they are summed: the noise of a sum grows with the bound, so a field
declared 0..3,000,000 for its rare extremes is better summed clamped at a typical ceiling. It
must lie inside the field's declared bounds (`effective_bounds`, `sum_bounds`), and is public
like them. (The name is from the ε-budget mode, which used it first; decision 0026c.)

`person` (`"patient_id"`) names the field that identifies whom a record is about, when one person
may have several records (a patient's visits); `records_per_person` (default 5) caps how many of
one person's records any ε-mode query uses, so that the ε protects a person, not a record
(decision 0030t). The statistical mode does not read them.

Pure: no database; `Rules` leaves the ε-mode keys to `PrivacySettings`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any

MODES = ("sdc", "dp")
PRIVACY_KEYS = frozenset({"mode", "epsilon_per_query", "daily_epsilon", "lifetime_epsilon", "dp_bounds",
                          "public_aggregates", "person", "records_per_person"})
# Records of one person a query uses when the dataset names no cap: the clinic visits' choice
# (92.6 % of visits kept, noise five times one record's; decision 0030t).
RECORDS_PER_PERSON = 5
MAX_RECORDS_PER_PERSON = 1000


@dataclass(frozen=True)
class EpsilonDefaults:
    """The portal-wide defaults (settings `DP_DAILY_EPSILON`, `DP_QUERY_EPSILON`,
    `DP_LIFETIME_DAYS`). The lifetime default is a number of days of the daily ε in force rather
    than an ε of its own, so that a dataset or grant with a larger daily ε is not cut short by a
    total sized for the portal's daily one, nor one with a smaller daily ε left a total it could
    never bound (decision 0030u)."""

    daily: float = 1.0
    per_query: float = 0.1
    lifetime_days: float = 10.0
    # The statistical mode's lifetime cells, as days of the grant's daily cells (`SDC_LIFETIME_DAYS`):
    # carried here because every caller that resolves a grant's budgets holds these defaults; a
    # setting of its own, not `DP_LIFETIME_DAYS`, since the two bound different things (decision 0030w).
    cell_lifetime_days: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EpsilonDefaults:
        return cls(daily=_positive(config.get("DP_DAILY_EPSILON", cls.daily), "DP_DAILY_EPSILON"),
                   per_query=_positive(config.get("DP_QUERY_EPSILON", cls.per_query), "DP_QUERY_EPSILON"),
                   lifetime_days=_positive(config.get("DP_LIFETIME_DAYS", cls.lifetime_days), "DP_LIFETIME_DAYS"),
                   cell_lifetime_days=_positive(config.get("SDC_LIFETIME_DAYS", cls.cell_lifetime_days),
                                                "SDC_LIFETIME_DAYS"))


@dataclass(frozen=True)
class PrivacySettings:
    """The mode of one grant on one dataset, and its ε per query, per day and over its life."""

    mode: str = "sdc"
    epsilon_per_query: float = 0.1
    daily_epsilon: float = 1.0
    dp_bounds: tuple[tuple[str, tuple[float, float]], ...] = ()
    lifetime_epsilon: float = 10.0
    person: str | None = None  # the field identifying whom a record is about; None: each record is one
    records_per_person: int = 1  # of one person's records, at most this many in a query

    @classmethod
    def resolve(cls, disclosure: Mapping[str, Any] | None, *, grant_mode: str | None = None,
                grant_daily: float | None = None, grant_lifetime: float | None = None,
                defaults: EpsilonDefaults = EpsilonDefaults()) -> PrivacySettings:
        """Grant over dataset over portal defaults; the lifetime ε's last default is
        `defaults.lifetime_days` days of the daily ε in force.

        Raises:
            ValueError: an unknown mode or an ε that is not a positive number.
        """
        declared = privacy_overrides(disclosure)
        mode = _mode(declared, grant_mode)
        if mode not in MODES:
            raise ValueError(f"disclosure mode must be one of {', '.join(MODES)}, not {mode!r}")
        daily = grant_daily if grant_daily is not None else declared.get("daily_epsilon", defaults.daily)
        per_query = declared.get("epsilon_per_query", defaults.per_query)
        daily = _positive(daily, "daily_epsilon")
        lifetime = grant_lifetime if grant_lifetime is not None else declared.get(
            "lifetime_epsilon", round(defaults.lifetime_days * daily, 9))
        person = declared.get("person")
        cap = declared.get("records_per_person", RECORDS_PER_PERSON) if person else 1
        return cls(mode, _positive(per_query, "epsilon_per_query"), daily, _clamps(declared),
                   _positive(lifetime, "lifetime_epsilon"), person, cap)

    def effective_bounds(self, declared: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """The declared bounds, narrowed by `dp_bounds` (never widened)."""
        bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in declared.items()}
        for name, (lo, hi) in self.dp_bounds:
            if name in bounds:
                low, high = max(lo, bounds[name][0]), min(hi, bounds[name][1])
                bounds[name] = (low, high) if low < high else bounds[name]
        return bounds


def sum_bounds(disclosure: Mapping[str, Any] | None,
               declared: Mapping[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Where each bounded field's values are clamped before they are summed, in either mode: the
    declared bounds narrowed by `dp_bounds`. Raises: ValueError (a malformed `dp_bounds`)."""
    return PrivacySettings(dp_bounds=_clamps(privacy_overrides(disclosure))).effective_bounds(declared)


def _clamps(declared: Mapping[str, Any]) -> tuple[tuple[str, tuple[float, float]], ...]:
    """The checked keys' `dp_bounds` as `PrivacySettings.dp_bounds` holds them."""
    return tuple((name, (float(lo), float(hi))) for name, (lo, hi) in sorted(declared.get("dp_bounds", {}).items()))


def privacy_overrides(disclosure: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ε-mode keys of a descriptor's `kaifang.disclosure`, checked.

    Raises:
        ValueError: an unknown mode or a non-positive ε.
    """
    found = {k: v for k, v in (disclosure or {}).items() if k in PRIVACY_KEYS}
    if "mode" in found and found["mode"] not in MODES:
        raise ValueError(f"kaifang.disclosure.mode must be one of {', '.join(MODES)}, not {found['mode']!r}")
    for key in ("epsilon_per_query", "daily_epsilon", "lifetime_epsilon"):
        if key in found:
            _positive(found[key], key)
    if not isinstance(found.get("public_aggregates", True), bool):
        raise ValueError("kaifang.disclosure.public_aggregates is true or false")
    _check_clamps(found.get("dp_bounds", {}))
    _check_person(found)
    return found


def _check_person(found: Mapping[str, Any]) -> None:
    person, cap = found.get("person"), found.get("records_per_person")
    if "person" in found and not (isinstance(person, str) and person):
        raise ValueError("kaifang.disclosure.person names the field that identifies the person a record is about")
    if "records_per_person" not in found:
        return
    if not person:
        raise ValueError("kaifang.disclosure.records_per_person needs kaifang.disclosure.person")
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_RECORDS_PER_PERSON:
        raise ValueError(f"kaifang.disclosure.records_per_person must be a whole number from 1 to "
                         f"{MAX_RECORDS_PER_PERSON}, not {cap!r}")


def person_field_problem(disclosure: Mapping[str, Any] | None, field_names: Collection[str]) -> str | None:
    """Why the declared `person` is not a field of the dataset, if it is not: refused when the
    descriptor is read rather than on every query (the store refuses plans of a table without it).

    Given the fields' `identifier` flags (a mapping of name to flag), the person must be flagged
    an identifier too: a field that tells whom a record is about is never filtered on, grouped or
    returned (`identifier` refusals), and one left unflagged would be, in the statistical mode
    exactly (a count by patient is a patient's visits)."""
    person = (disclosure or {}).get("person")
    if not (isinstance(person, str) and person):
        return None
    if person not in field_names:
        return f"kaifang.disclosure.person names {person!r}, which is not a field of the dataset"
    if isinstance(field_names, Mapping) and not field_names[person]:
        return (f"kaifang.disclosure.person names {person!r}, which is not flagged an identifier "
                f"(kaifang.fields.{person}.identifier: true)")
    return None


def resolve_lifetime_cells(disclosure: Mapping[str, Any] | None, *, daily: int, grant_lifetime: int | None = None,
                   defaults: EpsilonDefaults = EpsilonDefaults()) -> int:
    """The cells a grant in the statistical mode may add over its life to what its account had
    released from the dataset: the grant's own, else the dataset's `lifetime_cells`, else
    `defaults.cell_lifetime_days` days of the grant's daily cells (decision 0030w)."""
    if grant_lifetime is not None:
        return int(grant_lifetime)
    declared = Rules.with_overrides(dict(disclosure) if disclosure else None).lifetime_cells
    if declared is not None:
        return int(declared)
    return max(1, math.ceil(defaults.cell_lifetime_days * max(0, daily)))


def mode_in_force(disclosure: Mapping[str, Any] | None, grant_mode: str | None = None) -> str:
    """The mode a grant is in: its own override, else the dataset's declared mode, else "sdc"."""
    return _mode(privacy_overrides(disclosure), grant_mode)


def _mode(declared: Mapping[str, Any], grant_mode: str | None) -> str:
    return grant_mode or declared.get("mode", "sdc")


def public_aggregates_on(disclosure: Mapping[str, Any] | None) -> bool:
    """Whether the publisher leaves the dataset's public aggregates on (the default)."""
    return bool(privacy_overrides(disclosure).get("public_aggregates", True))


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


@dataclass(frozen=True)
class Rules:
    """Disclosure settings of one dataset: defaults here, overrides from its descriptor."""

    min_cell: int = 10
    rounding_base: int = 5
    count_noise: float = 2.0  # σ of a count's rounded normal perturbation (0026d; was `count_noise_max`, a ±2 table)
    magnitude_noise: float = 0.03
    significant_figures: int = 3
    sum_noise: float = 2.0  # Laplace scale of a sensitive sum, in what one record can add to it (0026c)
    max_groups: int = 40
    queries_per_run: int = 200
    daily_cells: int = 2000
    lifetime_cells: int | None = None  # a grant's cells over its life (None: SDC_LIFETIME_DAYS days; 0030w)

    @classmethod
    def with_overrides(cls, overrides: dict[str, Any] | None) -> Rules:
        """Defaults with a dataset's overrides; unknown keys and unsafe values are refused."""
        privacy_overrides(overrides)  # the ε-mode keys are checked, and kept, by `PrivacySettings`
        overrides = {k: v for k, v in (overrides or {}).items() if k not in PRIVACY_KEYS}
        if not overrides:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown disclosure settings: {sorted(unknown)}")
        rules = cls(**overrides)
        if rules.min_cell < 3 or rules.rounding_base < 1 or not rules.sum_noise >= 1 or not rules.count_noise >= 1:
            raise ValueError("disclosure settings weaker than the floor (min_cell >= 3, base >= 1, sum_noise >= 1, "
                             "count_noise >= 1)")
        if rules.lifetime_cells is not None and (isinstance(rules.lifetime_cells, bool)
                                                 or not isinstance(rules.lifetime_cells, int) or rules.lifetime_cells < 1):
            raise ValueError(f"lifetime_cells must be a whole number of at least 1, not {rules.lifetime_cells!r}")
        return rules
