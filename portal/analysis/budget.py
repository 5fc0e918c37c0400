"""Budgets as the broker spends them: taken at the moment of each query, all or nothing.

`CellBudget` keeps what each grant may still spend in memory; it serves one caller that is the
only spender while it runs (the public aggregates, answered one at a time per dataset under a
lock; the offline runner and benches, which have no grant). `LedgerBudget` spends straight from
the ledgers at each charge with one conditional UPDATE per ledger (`cells + n <= limit`), so
every run going on at the same time — several analysis sessions on their own queue workers,
`kaifang sandbox-run` beside them, runs under the account's other grants on the dataset — takes
from one budget, and a grant revoked or expired while a run goes on stops it at its next charge.
Reading the ledger when a run started and writing it when it ended let three overlapping sessions
release three budgets' worth of cells (tests/security/test_session_budget_race.py).

Both modes have the same three ledgers (`Ledgers`; decisions 0030u for ε, 0030w for cells): the
account's total on the dataset (within the grant's lifetime, counted from what the account had
spent when the grant was made), the grant's day, and the account's day on the dataset (within the
grant's daily budget); `charge_all` writes them in one transaction, always in that order.

Must not: decide what a plan costs (the broker does) or release anything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, Float, and_, bindparam, insert, select, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.access.models import CellAccountDay, CellAccountTotal, Grant
from portal.analysis.lineage import Refusal
from portal.analysis.models import ReleaseLedger
from portal.catalog.models import utcnow
from portal.db import budget_day

SLACK = 1e-9  # floating-point sums of ε (0.1 ten times) may pass 1.0 by a rounding error
LEDGERS = ("lifetime", "grant", "person")  # the order of the charges, and of the refusal reported


def spent_today_refusal() -> Refusal:
    """The `budget` refusal of a grant whose own day is spent (the reason clients have always read)."""
    return Refusal("budget", "today's budget of released cells for this grant is spent; try tomorrow")


@dataclass(frozen=True)
class Owner:
    """Whose ledgers a grant's spends also go to: its account and dataset, and what the account
    had spent on the dataset when the grant was made (`Grant.epsilon_before`, `Grant.cells_before`)."""

    user_id: int
    dataset_id: int
    before: float = 0.0


@dataclass(frozen=True)
class AccountSpent:
    """What one account has spent on one dataset: today and over all days."""

    today: float = 0.0
    total: float = 0.0


@dataclass(frozen=True)
class Ledgers:
    """One budget's three ledgers: `total` (account, dataset), `grant_day` (grant, day) and
    `account_day` (account, dataset, day), each spending `column` (and counting in `counter`)."""

    total: Any
    grant_day: Any
    account_day: Any
    column: str
    counter: str | None = None
    precision: int | None = None

    def charges(self, grant_id: int, amount: float, day: date, *, daily: float, lifetime: float,
                owner: Owner | None) -> list[tuple[str, Charge]]:
        """The charges of one spend under one grant, named by ledger, in the order of `LEDGERS`;
        a grant without an owner is charged to its own day only."""
        own = Charge(self.grant_day, self.column, {"grant_id": grant_id, "day": day}, amount, daily,
                     self.counter, self.precision)
        if owner is None:
            return [("grant", own)]
        account = {"user_id": owner.user_id, "dataset_id": owner.dataset_id}
        limit = owner.before + lifetime
        limit = round(limit, self.precision) if self.precision is not None else limit
        return [("lifetime", Charge(self.total, self.column, account, amount, limit, self.counter, self.precision)),
                ("grant", own),
                ("person", Charge(self.account_day, self.column, {**account, "day": day}, amount, daily,
                                  self.counter, self.precision))]

    def spent(self, session: Session | Connection, pairs: Iterable[tuple[int, int]], *,
              day: date | None = None) -> dict[tuple[int, int], AccountSpent]:
        """What each (account, dataset) has spent, under all the account's grants on the dataset."""
        wanted = list(dict.fromkeys(pairs))
        if not wanted:
            return {}
        daily, total = self.account_day, self.total
        today = {(u, d): v for u, d, v in session.execute(
            select(daily.user_id, daily.dataset_id, getattr(daily, self.column)).where(
                tuple_(daily.user_id, daily.dataset_id).in_(wanted), daily.day == (day or budget_day())))}
        overall = {(u, d): v for u, d, v in session.execute(
            select(total.user_id, total.dataset_id, getattr(total, self.column)).where(
                tuple_(total.user_id, total.dataset_id).in_(wanted)))}
        return {pair: AccountSpent(today.get(pair) or 0, overall.get(pair) or 0) for pair in wanted}

    def spent_now(self, connection: Session | Connection, grant_id: int, owner: Owner | None, *,
                  day: date | None = None) -> tuple[float, float, float]:
        """What the grant spent on `day`, and its owner's account on the dataset that day and in
        all (0 for what is not recorded, or without an owner): one statement, read before each plan."""
        value, day = getattr(self.grant_day, self.column), day or budget_day()
        parts = [select(value).where(self.grant_day.grant_id == grant_id, self.grant_day.day == day)]
        if owner is not None:
            account = {"user_id": owner.user_id, "dataset_id": owner.dataset_id}
            parts += [select(getattr(self.account_day, self.column)).filter_by(**account, day=day),
                      select(getattr(self.total, self.column)).filter_by(**account)]
        found = connection.execute(select(*(part.scalar_subquery() for part in parts))).one()
        return (*(v or 0 for v in found), *([0] * (3 - len(parts))))

    def spent_by_grant(self, session: Session | Connection, grant_ids: Iterable[int], *,
                       day: date | None = None) -> dict[int, float]:
        """What each grant spent today under its own record (0 when nothing is recorded)."""
        ids = list(grant_ids)
        if not ids:
            return {}
        found = dict(session.execute(select(self.grant_day.grant_id, getattr(self.grant_day, self.column)).where(
            self.grant_day.grant_id.in_(ids), self.grant_day.day == (day or budget_day()))).all())
        return {grant_id: found.get(grant_id) or 0 for grant_id in ids}


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

    def exhausted(self, grants: Sequence[int]) -> Refusal | None:
        """The `budget` refusal of a plan naming a grant with nothing left, if one has nothing left."""
        return spent_today_refusal() if any(self.left(g) <= 0 for g in grants) else None

    def refusal(self, grants: Sequence[int]) -> Refusal:
        """The `budget` refusal of the last `take` that failed."""
        return spent_today_refusal()


CELLS = Ledgers(CellAccountTotal, ReleaseLedger, CellAccountDay, "cells")


class LedgerBudget(CellBudget):
    """Cells left per grant, read from and spent into the ledgers at each charge: the grant's day
    (`release_ledger`), and for a grant with an `owners` entry its account's day on the dataset and
    total (decision 0030w). `daily` and `lifetime` are each grant's bounds."""

    def __init__(self, engine: Engine, daily: dict[int, int], *, day: date | None = None,
                 lifetime: Mapping[int, int] | None = None, owners: Mapping[int, Owner] | None = None):
        super().__init__()
        self.engine, self.daily, self.day = engine, dict(daily), day or budget_day()
        self.lifetime, self.owners = dict(lifetime or {}), dict(owners or {})
        self._refused: tuple[int, str] | None = None  # the grant and ledger of the last refused take

    def left(self, grant: int) -> int:
        return min(self.left_by_ledger(grant).values())

    def left_by_ledger(self, grant: int) -> dict[str, int]:
        """What is left in each ledger the grant's spends are charged to (in the order of `LEDGERS`)."""
        owner, daily = self.owners.get(grant), self.daily.get(grant, 0)
        with self.engine.connect() as connection:
            own, today, total = CELLS.spent_now(connection, grant, owner, day=self.day)
        if owner is None:
            return {"grant": max(0, daily - int(own))}
        return {"lifetime": max(0, int(owner.before + self.lifetime.get(grant, 0) - total)),
                "grant": max(0, daily - int(own)), "person": max(0, daily - int(today))}

    def take(self, grants: Sequence[int], cells: int) -> bool:
        named = [(ledger, grant, charge) for grant in grants for ledger, charge in CELLS.charges(
            grant, cells, self.day, daily=self.daily.get(grant, 0), lifetime=self.lifetime.get(grant, 0),
            owner=self.owners.get(grant))]
        # one order for every transaction, whichever grants it charges: by ledger, then by row
        named.sort(key=lambda item: (LEDGERS.index(item[0]), tuple(item[2].key.values())))
        outcome = charge_all(self.engine, [charge for _, _, charge in named])
        if outcome.totals is not None:
            return True
        ledger, grant, _ = named[outcome.refused] if outcome.refused is not None else ("grant", grants[0], None)
        self._refused = (grant, ledger)
        return False

    def exhausted(self, grants: Sequence[int]) -> Refusal | None:
        for grant in grants:
            left = self.left_by_ledger(grant)
            if spent := next((ledger for ledger in LEDGERS if left.get(ledger, 1) <= 0), None):
                self._refused = (grant, spent)
                return self.refusal(grants)
        return None

    def refusal(self, grants: Sequence[int]) -> Refusal:
        """The `budget` refusal, saying which budget ran out (`detail` person or lifetime)."""
        ledger = self._refused[1] if self._refused else "grant"
        if ledger == "lifetime":
            return Refusal("budget", "the cells this grant may release over its life are spent: they do not renew; "
                                     "a steward may approve more in a new application", detail="lifetime")
        if ledger == "person":
            return Refusal("budget", "today's budget of released cells for this dataset is spent under your other "
                                     "grants on it: the daily cells are per person and dataset; try tomorrow",
                           detail="person")
        return spent_today_refusal()


class Charge:
    """`amount` more in the `column` of `model`'s row whose columns are `key` (a grant and a day;
    an account, a dataset and a day; ...), if it stays within `limit`."""

    def __init__(self, model: Any, column: str, key: Mapping[str, Any], amount: float, limit: float,
                 counter: str | None = None, precision: int | None = None):
        self.model, self.column, self.key = model, column, dict(key)
        self.amount, self.limit, self.counter, self.precision = amount, limit, counter, precision

    def apply(self, connection: Connection) -> float | None:
        """The row's new total, or None (and nothing changed) when it would pass the limit."""
        model = self.model
        # the new total comes back with the update (one statement instead of two per ledger)
        total = connection.scalar(_increment(model, self.column, tuple(self.key), self.counter),
                                  {**{f"key_{name}": value for name, value in self.key.items()},
                                   "amount": self.amount, "limit": self.limit + SLACK})
        if total is None:
            if self.amount > self.limit + SLACK or connection.scalar(select(model.id).where(self._row())) is not None:
                return None
            connection.execute(insert(model).values(**self.key, **{self.column: self.amount},
                                                    **({self.counter: 1} if self.counter else {})))
            total = self.amount
        total = float(total)
        if self.precision is not None and round(total, self.precision) != total:  # 0.1 + 0.2 is 0.30000000000000004
            total = round(total, self.precision)
            connection.execute(update(model).where(self._row()).values(**{self.column: total}))
        return total

    def _row(self):
        """The ledger's row, for the rare statements beside the prepared update (a first charge of
        the row, a rounding): built only when one of them runs."""
        return and_(*(getattr(self.model, name) == value for name, value in self.key.items()))


@functools.lru_cache(maxsize=64)
def _increment(model: Any, column: str, key: tuple[str, ...], counter: str | None):
    """`UPDATE model SET column = column + :amount (, counter = counter + 1) WHERE key = :key_...
    AND column + :amount <= :limit RETURNING column`, built once per ledger: built afresh, its
    operators and cache key were most of a charge's time (decision 0031g)."""
    total = getattr(model, column)
    amount = bindparam("amount", type_=total.type)
    values = {column: total + amount}
    if counter:
        values[counter] = getattr(model, counter) + 1
    row = and_(*(getattr(model, name) == bindparam(f"key_{name}", type_=getattr(model, name).type) for name in key))
    return update(model).where(row, total + amount <= bindparam("limit", type_=Float)).values(**values).returning(total)


class Charged(NamedTuple):
    """What `charge_all` did: every row's new total, or (nothing charged) which charge was refused."""

    totals: list[float] | None
    refused: int | None = None


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
