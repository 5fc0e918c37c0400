"""The public's ε on a dataset in the ε-budget mode, and the answers it paid for, as the public
aggregates read and write them (decision 0030z; the path itself is `public.py`'s): what is left
a day and over all days, one row per dataset and day charged, a kept answer in the caller's
order of fields."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.analysis.epsilon import EpsilonBudget
from portal.analysis.models import PublicEpsilon
from portal.analysis.runtime import AnalysisSettings
from portal.db import budget_day

PUBLIC_GRANT = 0  # the broker's budget key for the public (no real grant has id 0)


def budget(session: Session, dataset_id: int, settings: AnalysisSettings) -> EpsilonBudget:
    """The public's ε on the dataset: a day's and all days' (one row per day it spent)."""
    days = session.execute(select(PublicEpsilon.day, PublicEpsilon.epsilon).where(
        PublicEpsilon.dataset_id == dataset_id)).all()
    today = budget_day()
    return EpsilonBudget(daily={PUBLIC_GRANT: settings.public_epsilon_daily},
                         spent_before={PUBLIC_GRANT: sum(e for d, e in days if d == today)},
                         lifetime={PUBLIC_GRANT: settings.public_epsilon_lifetime},
                         lifetime_before={PUBLIC_GRANT: sum(e for _, e in days)})


def charge(session: Session, dataset_id: int, budget: EpsilonBudget) -> None:
    """Add what the answer spent to today's row (called under `public._serialised`: no other writer)."""
    spent = budget.spent.get(PUBLIC_GRANT, 0.0)
    if not spent:
        return
    row = session.scalar(select(PublicEpsilon).where(PublicEpsilon.dataset_id == dataset_id,
                                                     PublicEpsilon.day == budget_day()))
    if row is None:
        row = PublicEpsilon(dataset_id=dataset_id, day=budget_day(), epsilon=0.0, queries=0)
        session.add(row)
    row.epsilon = round(row.epsilon + spent, 9)
    row.queries += budget.queries.get(PUBLIC_GRANT, 0)
    budget.spent_before[PUBLIC_GRANT] = budget.spent_today(PUBLIC_GRANT)
    budget.lifetime_before[PUBLIC_GRANT] = budget.spent_lifetime(PUBLIC_GRANT)
    budget.spent[PUBLIC_GRANT] = 0.0


def figures(budget: EpsilonBudget) -> dict[str, float]:
    today = round(max(0.0, budget.daily[PUBLIC_GRANT] - budget.spent_today(PUBLIC_GRANT)), 6)
    return {"daily": budget.daily[PUBLIC_GRANT], "left_today": min(today, budget.lifetime_left(PUBLIC_GRANT)),
            "lifetime": budget.lifetime[PUBLIC_GRANT], "left": budget.lifetime_left(PUBLIC_GRANT)}


def text(budget: EpsilonBudget) -> str:
    left = figures(budget)
    return (f"{left['left_today']:g} of {left['daily']:g} left today, "
            f"{left['left']:g} of {left['lifetime']:g} over all days")


def shown(value: Any) -> Any:
    """A noisy mean to two decimals (its noise is far wider); counts are whole already."""
    return round(value, 2) if isinstance(value, float) else value


def kept_refusal(rule: str, reason: str, run_id: str) -> dict[str, Any]:
    """A question the broker refused for a rule of its own, kept in place of its answer: the
    refusal depends on the question and the dictionary only, so asking again is refused again,
    free (decision 0031b). `reason` as first given (it says what that first asking spent)."""
    return {"refused": {"rule": rule, "reason": reason}, "run_id": run_id}


def in_order_of(kept: dict[str, Any], by: tuple[str, ...]) -> tuple[list[str], list[list[Any]]]:
    """A kept answer's columns and rows with its key fields in the order the caller gave them
    (then the figure, its interval's low and high ends)."""
    names = kept["columns"]
    order = [names.index(name) for name in by] + list(range(len(by), len(names)))
    return [names[i] for i in order], [[row[i] for i in order] for row in kept["rows"]]
