"""The ε budget of the differential-privacy mode: what a grant may still spend, and the ledgers.

During a run, `EpsilonBudget` keeps what each grant in the "dp" mode has left (its daily ε,
see portal/catalog/disclosure_settings.py, minus what was spent today; and its lifetime ε minus
what was spent since the grant was made); `LedgerEpsilon`, the one runs use, writes each spend
into the ledgers as it happens (portal/analysis/budget.py says why), all of them or none:

- `EpsilonAccountTotal`, the account's ε on the dataset over all days and grants, within the
  grant's lifetime ε counted from `Grant.epsilon_before` (days add up: a 90-day grant would
  otherwise spend 90 daily budgets);
- `EpsilonLedger`, the grant's ε today, within its daily ε (its own record, by grant);
- `EpsilonAccountDay`, the account's ε on the dataset today under all its grants, within the
  grant's daily ε (a second approved application does not give a second daily budget).

"The account" is the one the grant charges (`Owner.user_id`: the grant's own, or the same
verified applicant's first account on the dataset, `Grant.budget_user_id`), so one person's
accounts share these ledgers (decision 0031e). Decision 0030u.

Must not: compute or release anything (portal/analysis/privacy.py and private_queries.py do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.access.models import EpsilonAccountDay, EpsilonAccountTotal
from portal.analysis.budget import AccountSpent, Charge, Ledgers, Owner, charge_all
from portal.analysis.lineage import Refusal
from portal.analysis.models import EpsilonLedger
from portal.db import budget_day

PRECISION = 9  # ε is kept to 1e-9 so that ten spends of 0.1 make exactly 1.0
EPSILON = Ledgers(EpsilonAccountTotal, EpsilonLedger, EpsilonAccountDay, "epsilon", counter="queries",
                  precision=PRECISION)


@dataclass
class EpsilonBudget:
    """What each grant may still spend, and what this run spent; in memory for one run. A grant
    without a `lifetime` entry has no lifetime bound (the offline runner's)."""

    daily: dict[int, float]
    spent_before: dict[int, float]  # today, before this run's spends (other runs' too, once charged)
    spent: dict[int, float] = field(default_factory=dict)
    queries: dict[int, int] = field(default_factory=dict)
    lifetime: dict[int, float] = field(default_factory=dict)
    lifetime_before: dict[int, float] = field(default_factory=dict)  # since the grant was made
    refused: dict[int, str] = field(default_factory=dict)  # the ledger that refused the last spend

    def spent_today(self, grant_id: int) -> float:
        return round(self.spent_before.get(grant_id, 0.0) + self.spent.get(grant_id, 0.0), PRECISION)

    def spent_lifetime(self, grant_id: int) -> float:
        return round(self.lifetime_before.get(grant_id, 0.0) + self.spent.get(grant_id, 0.0), PRECISION)

    def lifetime_left(self, grant_id: int) -> float | None:
        if grant_id not in self.lifetime:
            return None
        return round(max(0.0, self.lifetime[grant_id] - self.spent_lifetime(grant_id)), PRECISION)

    def left(self, grant_id: int) -> float:
        today = round(max(0.0, self.daily.get(grant_id, 0.0) - self.spent_today(grant_id)), PRECISION)
        life = self.lifetime_left(grant_id)
        return today if life is None else min(today, life)

    def spend(self, grant_id: int, epsilon: float) -> bool:
        """Charge `epsilon`, or return False (charging nothing) when less than that is left."""
        epsilon = round(epsilon, PRECISION)
        life = self.lifetime_left(grant_id)
        if life is not None and life < epsilon:
            return self._refuse(grant_id, "lifetime")
        if self.left(grant_id) < epsilon:
            return self._refuse(grant_id, "grant")
        self._spent(grant_id, epsilon)
        return True

    def summary(self, grant_id: int) -> str:
        today = f"ε spent {self.spent_today(grant_id):g} of {self.daily.get(grant_id, 0.0):g} today"
        if grant_id not in self.lifetime:
            return today
        return f"{today}, {self.spent_lifetime(grant_id):g} of {self.lifetime[grant_id]:g} over the grant's life"

    def refusal(self, grant_id: int, slug: str) -> Refusal:
        """The `epsilon-budget` refusal of the grant's last spend, saying which budget ran out."""
        ledger, summary = self.refused.get(grant_id, "grant"), self.summary(grant_id)
        if ledger == "lifetime":
            return Refusal("epsilon-budget", f"the ε this grant may spend over its life on {slug} is spent ({summary}); "
                                             "it does not renew: a steward may approve more in a new application",
                           detail="lifetime")
        if ledger == "person":
            return Refusal("epsilon-budget", f"today's ε budget for {slug} is spent under your other grants on it: "
                                             f"the daily ε is per person and dataset ({summary}); try tomorrow",
                           detail="person")
        return Refusal("epsilon-budget", f"today's ε budget for {slug} is spent ({summary}); try tomorrow")

    def _refuse(self, grant_id: int, ledger: str) -> bool:
        self.refused[grant_id] = ledger
        return False

    def _spent(self, grant_id: int, epsilon: float) -> None:
        self.spent[grant_id] = round(self.spent.get(grant_id, 0.0) + epsilon, PRECISION)
        self.queries[grant_id] = self.queries.get(grant_id, 0) + 1


def spent_today(session: Session, grant_ids: Iterable[int], *, day: date | None = None) -> dict[int, float]:
    """ε already spent today under each grant (0 when nothing is recorded)."""
    return {g: float(e) for g, e in EPSILON.spent_by_grant(session, grant_ids, day=day).items()}


def account_spent(session: Session, pairs: Iterable[tuple[int, int]], *,
                  day: date | None = None) -> dict[tuple[int, int], AccountSpent]:
    """ε each (account, dataset) has spent, under all the account's grants on the dataset."""
    return {pair: AccountSpent(float(s.today), float(s.total)) for pair, s in EPSILON.spent(session, pairs, day=day).items()}


@dataclass
class LedgerEpsilon(EpsilonBudget):
    """An `EpsilonBudget` whose every spend is written to the ledgers at once, atomically and
    only within every bound: runs going on at the same time (parallel sessions, and runs under
    the account's other grants on the dataset) share one budget instead of each starting from
    what the ledgers said when it began. A grant without an `owners` entry is charged to its own
    daily ledger only."""

    engine: Engine | None = None
    day: date = field(default_factory=budget_day)
    owners: Mapping[int, Owner] = field(default_factory=dict)

    def spend(self, grant_id: int, epsilon: float) -> bool:
        epsilon = round(epsilon, PRECISION)
        charges, ledgers = self._charges(grant_id, epsilon)
        outcome = charge_all(self.engine, charges)
        if outcome.totals is None:
            return self._refuse(grant_id, ledgers[outcome.refused] if outcome.refused is not None else "grant")
        self._spent(grant_id, epsilon)
        totals = dict(zip(ledgers, outcome.totals, strict=True))  # other runs' spends are in them too
        self.spent_before[grant_id] = round(totals.get("person", totals["grant"]) - self.spent[grant_id], PRECISION)
        if "lifetime" in totals:
            self.lifetime_before[grant_id] = round(totals["lifetime"] - self.owners[grant_id].before
                                                   - self.spent[grant_id], PRECISION)
        return True

    def _charges(self, grant_id: int, epsilon: float) -> tuple[list[Charge], list[str]]:
        """The charges of one spend, in the order of `LEDGERS`, and which ledger each is."""
        named = EPSILON.charges(grant_id, epsilon, self.day, daily=self.daily.get(grant_id, 0.0),
                                lifetime=self.lifetime.get(grant_id, 0.0), owner=self.owners.get(grant_id))
        return [charge for _, charge in named], [ledger for ledger, _ in named]


@dataclass(frozen=True)
class GrantEpsilon:
    """One grant's ε bounds in force (settings resolved) and whose ledgers it charges."""

    daily: float
    lifetime: float
    owner: Owner


def ledger_epsilon(session: Session, grants: Mapping[int, GrantEpsilon], *, day: date | None = None) -> LedgerEpsilon:
    """The budget a run spends: the grants' bounds, and what the ledgers say was spent so far."""
    spent = account_spent(session, [(g.owner.user_id, g.owner.dataset_id) for g in grants.values()], day=day)
    of = {grant_id: spent[g.owner.user_id, g.owner.dataset_id] for grant_id, g in grants.items()}
    return LedgerEpsilon(daily={i: g.daily for i, g in grants.items()},
                         spent_before={i: of[i].today for i in grants},
                         lifetime={i: g.lifetime for i, g in grants.items()},
                         lifetime_before={i: max(0.0, of[i].total - g.owner.before) for i, g in grants.items()},
                         engine=session.get_bind(), day=day or budget_day(),
                         owners={i: g.owner for i, g in grants.items()})
