"""Daily budgets as the broker spends them: taken at the moment of each query, all or nothing.

`CellBudget` keeps what each grant may still spend in memory; it serves one caller that is the
only spender while it runs (the public aggregates, answered one at a time per dataset under a
lock; the offline runner and benches, which have no grant). `LedgerBudget` spends straight from
the `release_ledger` row of the grant and day with one conditional UPDATE per charge
(`cells + n <= daily`), so every run of a grant going on at the same time — several analysis
sessions on their own queue workers, `kaifang sandbox-run` beside them — takes from one budget,
and a grant revoked or expired while a run goes on stops it at its next charge.
Reading the ledger when a run started and writing it when it ended let three overlapping sessions
release three budgets' worth of cells (tests/security/test_session_budget_race.py). The ε budget
of the differential-privacy mode is charged the same way (`charge_all`, used by `epsilon.py`:
several ledgers in one transaction, decision 0030u).

Must not: decide what a plan costs (the broker does) or release anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from portal.access.models import Grant
from portal.analysis.lineage import Refusal
from portal.analysis.models import ReleaseLedger
from portal.catalog.models import utcnow
from portal.db import budget_day

SLACK = 1e-9  # floating-point sums of ε (0.1 ten times) may pass 1.0 by a rounding error


class CellBudget:
    """Cells left per grant, in memory: for a sole spender."""

    def __init__(self, left: dict[int, int] | None = None):
        self._left = dict(left or {})

    def left(self, grant: int) -> int:
        return self._left.get(grant, 0)

    def take(self, grants: Sequence[int], cells: int) -> bool:
        """Spend `cells` from every grant, or nothing at all when one of them has fewer left."""
        if any(self.left(g) < cells for g in grants):
            return False
        for grant in grants:
            self._left[grant] = self.left(grant) - cells
        return True


class LedgerBudget(CellBudget):
    """Cells left per grant today, read from and spent into `release_ledger` at each charge."""

    def __init__(self, engine: Engine, daily: dict[int, int], *, day: date | None = None):
        super().__init__()
        self.engine, self.daily, self.day = engine, dict(daily), day or budget_day()

    def left(self, grant: int) -> int:
        with self.engine.connect() as connection:
            spent = connection.scalar(select(ReleaseLedger.cells).where(
                ReleaseLedger.grant_id == grant, ReleaseLedger.day == self.day)) or 0
        return max(0, self.daily.get(grant, 0) - spent)

    def take(self, grants: Sequence[int], cells: int) -> bool:
        return charge(self.engine, [Charge(ReleaseLedger, "cells", {"grant_id": g, "day": self.day}, cells,
                                           self.daily.get(g, 0)) for g in grants]) is not None


class Charge:
    """`amount` more in the `column` of `model`'s row whose columns are `key` (a grant and a day;
    an account, a dataset and a day; ...), if it stays within `limit`."""

    def __init__(self, model: Any, column: str, key: Mapping[str, Any], amount: float, limit: float,
                 counter: str | None = None, precision: int | None = None):
        self.model, self.column, self.key = model, column, dict(key)
        self.amount, self.limit, self.counter, self.precision = amount, limit, counter, precision

    def apply(self, connection: Connection) -> float | None:
        """The row's new total, or None (and nothing changed) when it would pass the limit."""
        model, column = self.model, getattr(self.model, self.column)
        row = and_(*(getattr(model, name) == value for name, value in self.key.items()))
        values = {self.column: column + self.amount}
        if self.counter:
            values[self.counter] = getattr(model, self.counter) + 1
        changed = connection.execute(update(model).where(row, column + self.amount <= self.limit + SLACK)
                                     .values(**values)).rowcount
        if not changed:
            if self.amount > self.limit + SLACK or connection.scalar(select(model.id).where(row)) is not None:
                return None
            connection.execute(insert(model).values(**self.key, **{self.column: self.amount},
                                                    **({self.counter: 1} if self.counter else {})))
        total = float(connection.scalar(select(column).where(row)))
        if self.precision is not None and round(total, self.precision) != total:  # 0.1 + 0.2 is 0.30000000000000004
            total = round(total, self.precision)
            connection.execute(update(model).where(row).values(**{self.column: total}))
        return total


class Charged(NamedTuple):
    """What `charge_all` did: every row's new total, or (nothing charged) which charge was refused."""

    totals: list[float] | None
    refused: int | None = None


def charge(engine: Engine, charges: Sequence[Charge]) -> list[float] | None:
    """Apply every charge in one transaction, or none of them: the rows' new totals, or None.

    Raises:
        Refusal: `no-grant` (see `charge_all`).
    """
    return charge_all(engine, charges).totals


def charge_all(engine: Engine, charges: Sequence[Charge]) -> Charged:
    """Apply every charge in one transaction, or none of them; when one would pass its limit,
    which one (the first in order: a caller orders them by the refusal it would rather report,
    and always in the same order, so that two transactions lock the rows in one order).
    Two first charges of a row at once both insert; the loser retries as an update.

    Raises:
        Refusal: `no-grant`, a grant of the charges (their `grant_id`) was revoked or ran out
            since the run started (a run checks its grants when it starts; this stops the
            queries a long run sends after).
    """
    grants = list(dict.fromkeys(item.key["grant_id"] for item in charges if "grant_id" in item.key))
    for _ in range(2 + len(charges)):  # each first row of a day may be lost to another insert once
        try:
            with engine.connect() as connection, connection.begin() as transaction:
                _require_active(connection, grants)
                totals = []
                for at, item in enumerate(charges):
                    total = item.apply(connection)
                    if total is None:
                        transaction.rollback()
                        return Charged(None, at)
                    totals.append(total)
                return Charged(totals)
        except IntegrityError:
            continue
    return Charged(None, None)


def _require_active(connection: Connection, grants: Sequence[int]) -> None:
    active = set(connection.scalars(select(Grant.id).where(
        Grant.id.in_(list(grants)), Grant.revoked_at.is_(None), Grant.expires_at > utcnow())))
    if lapsed := [g for g in grants if g not in active]:
        raise Refusal("no-grant", f"the grant was revoked or expired during this run (grant {lapsed[0]}): "
                                  "nothing more is answered under it")
