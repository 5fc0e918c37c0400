"""Granting and looking up conditional access.

`grant_access` is the steward's decision; `usable_datasets` is what a run may touch: every
visible open dataset, conditional ones only under an active grant, closed ones never.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.access import persons
from portal.access.models import CellAccountTotal, EpsilonAccountTotal, Grant
from portal.accounts.models import User
from portal.auth import Actor
from portal.catalog.disclosure_settings import (
    MODES,
    EpsilonDefaults,
    PrivacySettings,
    resolve_lifetime_cells,
)
from portal.catalog.models import Dataset, utcnow
from portal.catalog.queries import visible_datasets
from portal.errors import Forbidden, Invalid, NotFound

MAX_GRANT_DAYS = 366


@dataclass(frozen=True)
class UsableDataset:
    """A dataset a run may name, with what it may do with it (`rows` or `aggregate`)."""

    slug: str
    dataset_id: int
    open_class: str
    level: str
    grant_id: int | None
    daily_cell_budget: int | None
    disclosure_mode: str | None = None  # the grant's override of the dataset's mode ("sdc" or "dp")
    daily_epsilon: float | None = None  # the grant's own ε per day in the "dp" mode
    lifetime_epsilon: float | None = None  # the grant's own ε over its life in the "dp" mode
    epsilon_before: float = 0.0  # what the account had spent on the dataset when the grant was made
    # the account whose ledgers the grant charges (ε and cells): its own, or the same applicant's
    # first account with a grant on the dataset (`Grant.budget_user_id`, decision 0031e)
    user_id: int | None = None
    columns: tuple[str, ...] | None = None  # the grant's columns (None: all)
    row_filter: tuple[dict, ...] = ()  # the grant's row conditions, ANDed under every plan
    lifetime_cells: int | None = None  # the grant's own cells over its life in the "sdc" mode
    cells_before: int = 0  # what the account had released from the dataset when the grant was made
    # The dataset row as this check loaded it (with its version and fields), so the run reads it
    # once; a strong reference, since the session's identity map holds rows only weakly.
    dataset: Dataset | None = field(default=None, repr=False, compare=False)

    def privacy(self, defaults: EpsilonDefaults) -> PrivacySettings:
        """The mode and ε this grant is under: the grant's own over the dataset's declared ones
        over the portal's defaults. One resolution for the run that spends and for the budgets
        the pages and the API report, so the two cannot disagree."""
        return PrivacySettings.resolve(self.dataset.disclosure if self.dataset is not None else None,
                                       grant_mode=self.disclosure_mode, grant_daily=self.daily_epsilon,
                                       grant_lifetime=self.lifetime_epsilon, defaults=defaults)

    def cell_lifetime(self, defaults: EpsilonDefaults) -> int:
        """The cells this grant may add over its life to what its account had released from the
        dataset (`cells_before`): the grant's own, else the dataset's, else the portal's default."""
        return resolve_lifetime_cells(self.dataset.disclosure if self.dataset is not None else None,
                                      daily=self.daily_cell_budget or 0, grant_lifetime=self.lifetime_cells,
                                      defaults=defaults)


def grant_access(session: Session, actor: Actor, *, email: str, slug: str, days: int, purpose: str,
                 daily_cell_budget: int = 2000, disclosure_mode: str | None = None,
                 daily_epsilon: float | None = None, lifetime_epsilon: float | None = None,
                 lifetime_cells: int | None = None) -> int:
    """Give a user time-limited aggregate access to one conditional dataset; returns the grant id.

    `disclosure_mode` ("sdc" or "dp") overrides the dataset's mode for this grant, `daily_epsilon`
    its ε per day and `lifetime_epsilon` its ε over its life in the "dp" mode, `lifetime_cells`
    its released cells over its life in the "sdc" mode (None: the dataset's or the portal's default).

    Raises:
        Forbidden: the actor is not a steward, or the dataset is not conditional (closed data is
            never granted; open data needs no grant).
        NotFound: no such user or dataset.
        Invalid: a duration outside 1..366 days.
    """
    if not actor.at_least("steward"):
        raise Forbidden("only data stewards grant conditional access")
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise Invalid(f"a grant lasts 1 to {MAX_GRANT_DAYS} days", errors={"days": ["out of range"]})
    _check_privacy(disclosure_mode, daily_epsilon, lifetime_epsilon)
    if lifetime_cells is not None and (isinstance(lifetime_cells, bool) or not isinstance(lifetime_cells, int)
                                       or lifetime_cells < 1):
        raise Invalid("a grant's lifetime cells are a whole number of at least 1", errors={"lifetime_cells": ["out of range"]})
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound("user", email)
    dataset = session.scalar(select(Dataset).where(Dataset.slug == slug))
    if dataset is None:
        raise NotFound("dataset", slug)
    if dataset.open_class != "conditional":
        raise Forbidden(f"{slug} is {dataset.open_class}: only conditional datasets are granted",
                        code="not-grantable")
    # the user's verified identities (approved applications) decide whose budgets it charges
    grant = Grant(user_id=user.id, dataset_id=dataset.id, purpose=purpose, granted_by=actor.email or "",
                  daily_cell_budget=daily_cell_budget, expires_at=utcnow() + timedelta(days=days),
                  disclosure_mode=disclosure_mode, daily_epsilon=daily_epsilon, lifetime_epsilon=lifetime_epsilon,
                  lifetime_cells=lifetime_cells,
                  **budget_holder(session, user.id, dataset.id, persons.verified_digests(session, user.id)))
    session.add(grant)
    session.commit()
    return grant.id


def _check_privacy(mode: str | None, daily_epsilon: float | None, lifetime_epsilon: float | None = None) -> None:
    if mode is not None and mode not in MODES:
        raise Invalid(f"a grant's disclosure mode is one of {', '.join(MODES)}", errors={"disclosure_mode": ["unknown"]})
    for name, value, what in (("daily_epsilon", daily_epsilon, "daily"), ("lifetime_epsilon", lifetime_epsilon, "lifetime")):
        if value is not None and not (isinstance(value, int | float) and 0 < value < math.inf):
            raise Invalid(f"a grant's {what} ε is a positive number", errors={name: ["out of range"]})


def account_epsilon_total(session: Session, user_id: int, dataset_id: int) -> float:
    """ε the account has spent on the dataset so far, under all its grants (0 when nothing is
    recorded): a new grant's lifetime ε counts from here (`Grant.epsilon_before`)."""
    return float(session.scalar(select(EpsilonAccountTotal.epsilon).where(
        EpsilonAccountTotal.user_id == user_id, EpsilonAccountTotal.dataset_id == dataset_id)) or 0.0)


def budget_holder(session: Session, user_id: int, dataset_id: int, digests: Iterable[str]) -> dict[str, Any]:
    """A new grant's fields saying whose ledgers it charges (`budget_user_id`: the same
    applicant's first account on the dataset, decision 0031e) and what that account had spent
    when it was made (`epsilon_before`, `cells_before`): one construction for an approval and for
    `kaifang grant`."""
    charged = persons.budget_account(session, user_id, dataset_id, digests)
    return {"budget_user_id": charged, "epsilon_before": account_epsilon_total(session, charged, dataset_id),
            "cells_before": account_cells_total(session, charged, dataset_id)}


def account_cells_total(session: Session, user_id: int, dataset_id: int) -> int:
    """Cells the account has released from the dataset so far, under all its grants (0 when
    nothing is recorded): a new grant's lifetime cells count from here (`Grant.cells_before`)."""
    return int(session.scalar(select(CellAccountTotal.cells).where(
        CellAccountTotal.user_id == user_id, CellAccountTotal.dataset_id == dataset_id)) or 0)


def usable_datasets(session: Session, actor: Actor, slugs: list[str], *, now: datetime | None = None) -> list[UsableDataset]:
    """Resolve the datasets a run asks for, refusing any the actor may not analyse.

    Raises:
        NotFound: a slug names no visible dataset.
        Forbidden: a dataset is closed, or conditional without an active grant (code `no-grant`).
    """
    now = now or utcnow()
    found = []
    for slug in dict.fromkeys(slugs):
        # The version in the same statement (a many-to-one join), the fields for the run's source.
        dataset = session.scalar(visible_datasets(actor).where(Dataset.slug == slug)
                                 .options(joinedload(Dataset.current_version), selectinload(Dataset.fields)))
        if dataset is None:
            raise NotFound("dataset", slug)
        found.append(_usable(session, actor, dataset, now))
    return found


def usable_each(session: Session, actor: Actor, slugs: list[str] | tuple[str, ...]) -> dict[str, UsableDataset]:
    """Each of `slugs` the actor may analyse now, checked alone: a page lists what is still usable
    of a session's datasets, where a run naming one it may not use is refused whole."""
    found = {}
    for slug in dict.fromkeys(slugs):
        try:
            found[slug] = usable_datasets(session, actor, [slug])[0]
        except (Forbidden, NotFound):
            continue
    return found


def _usable(session: Session, actor: Actor, dataset: Dataset, now: datetime) -> UsableDataset:
    if dataset.open_class == "closed":
        raise Forbidden(f"{dataset.slug} is closed: it is never analysed", code="closed-dataset")
    if dataset.open_class == "open":
        return UsableDataset(dataset.slug, dataset.id, "open", "rows", None, None, dataset=dataset)
    # Revocation and expiry are read here, on every run: the next run after either is refused.
    # A grant scoped to a version covers that version only; a newer one needs a renewal.
    current = dataset.current_version.number if dataset.current_version else None
    grant = session.scalar(select(Grant).where(
        Grant.user_id == actor.user_id, Grant.dataset_id == dataset.id, Grant.revoked_at.is_(None),
        Grant.expires_at > now, or_(Grant.version.is_(None), Grant.version == current))
        .order_by(Grant.expires_at.desc()))
    if actor.user_id is None or grant is None:
        raise Forbidden(f"{dataset.slug} is conditional: an approved, unexpired grant is needed (none, or it was "
                        "revoked or has expired); apply, or renew your application", code="no-grant")
    return UsableDataset(dataset.slug, dataset.id, "conditional", grant.level, grant.id, grant.daily_cell_budget,
                         grant.disclosure_mode, grant.daily_epsilon, grant.lifetime_epsilon, grant.epsilon_before or 0.0,
                         grant.budget_account, tuple(grant.columns) if grant.columns is not None else None,
                         tuple(grant.row_filter or ()), grant.lifetime_cells, grant.cells_before or 0, dataset=dataset)
