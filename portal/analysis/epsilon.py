"""The ε budget of the differential-privacy mode: what a grant may still spend, and the ledger.

During a run, `EpsilonBudget` keeps what each grant in the "dp" mode has left today (its daily ε,
see portal/catalog/disclosure_settings.py, minus the ledger); `LedgerEpsilon`, the one runs use, writes each spend into
`EpsilonLedger` as it happens (portal/analysis/budget.py says why).

Must not: compute or release anything (portal/analysis/privacy.py and private_queries.py do).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.analysis.budget import Charge, charge
from portal.analysis.models import EpsilonLedger
from portal.db import budget_day

PRECISION = 9  # ε is kept to 1e-9 so that ten spends of 0.1 make exactly 1.0


@dataclass
class EpsilonBudget:
    """What each grant may still spend today, and what this run spent; in memory for one run."""

    daily: dict[int, float]
    spent_before: dict[int, float]
    spent: dict[int, float] = field(default_factory=dict)
    queries: dict[int, int] = field(default_factory=dict)

    def spent_today(self, grant_id: int) -> float:
        return round(self.spent_before.get(grant_id, 0.0) + self.spent.get(grant_id, 0.0), PRECISION)

    def left(self, grant_id: int) -> float:
        return round(max(0.0, self.daily.get(grant_id, 0.0) - self.spent_today(grant_id)), PRECISION)

    def spend(self, grant_id: int, epsilon: float) -> bool:
        """Charge `epsilon`, or return False (charging nothing) when less than that is left."""
        if self.left(grant_id) < round(epsilon, PRECISION):
            return False
        self.spent[grant_id] = round(self.spent.get(grant_id, 0.0) + epsilon, PRECISION)
        self.queries[grant_id] = self.queries.get(grant_id, 0) + 1
        return True

    def summary(self, grant_id: int) -> str:
        return f"ε spent {self.spent_today(grant_id):g} of {self.daily.get(grant_id, 0.0):g} today"


def spent_today(session: Session, grant_ids: Iterable[int], *, day: date | None = None) -> dict[int, float]:
    """ε already spent today under each grant (0 when nothing is recorded)."""
    ids = list(grant_ids)
    if not ids:
        return {}
    rows = session.execute(select(EpsilonLedger.grant_id, EpsilonLedger.epsilon).where(
        EpsilonLedger.grant_id.in_(ids), EpsilonLedger.day == (day or budget_day())))
    found = {grant_id: float(epsilon) for grant_id, epsilon in rows}
    return {grant_id: found.get(grant_id, 0.0) for grant_id in ids}


@dataclass
class LedgerEpsilon(EpsilonBudget):
    """An `EpsilonBudget` whose every spend is written to `epsilon_ledger` at once, atomically and
    only within the daily ε: runs of one grant going on at the same time (parallel sessions)
    share one budget instead of each starting from what the ledger said when it began."""

    engine: Engine | None = None
    day: date = field(default_factory=budget_day)

    def spend(self, grant_id: int, epsilon: float) -> bool:
        epsilon = round(epsilon, PRECISION)
        totals = charge(self.engine, [Charge(EpsilonLedger, "epsilon", grant_id, self.day, epsilon,
                                             self.daily.get(grant_id, 0.0), counter="queries",
                                             precision=PRECISION)])
        if totals is None:
            return False
        self.spent[grant_id] = round(self.spent.get(grant_id, 0.0) + epsilon, PRECISION)
        self.queries[grant_id] = self.queries.get(grant_id, 0) + 1
        self.spent_before[grant_id] = round(totals[0] - self.spent[grant_id], PRECISION)  # other runs' too
        return True
