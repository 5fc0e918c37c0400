"""Input and output shapes of applications: what a developer asks for, what a steward approves,
and the summaries pages and the API show. Parsing only; no database, no permission checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

MAX_DURATION_DAYS = 366
ROW_FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "between")


@dataclass(frozen=True)
class ApplicantIdentity:
    """Who applies, as typed (decision 0031e): the real name, the identity document (its type, one
    of `identity.DOCUMENT_TYPES`, and number) and the organisation's unified social credit code
    (optional). The number goes no further than the service, which keeps its keyed digest."""

    name: str
    document_type: str
    number: str
    credit_code: str = ""

    def __repr__(self) -> str:  # never the number, in a log or a traceback
        return f"ApplicantIdentity(name={self.name!r}, document_type={self.document_type!r}, number=…)"


@dataclass(frozen=True)
class ApplicationDraft:
    """What a developer fills in; `identity` is required (an application without one is refused)."""

    datasets: tuple[str, ...]
    purpose: str
    organisation: str
    duration_days: int
    fields_wanted: str = ""
    intended_outputs: str = ""
    identity: ApplicantIdentity | None = None


@dataclass(frozen=True)
class DatasetScope:
    """What a steward approves on one dataset: its version, columns and rows (None: all)."""

    slug: str
    version: int | None = None
    columns: tuple[str, ...] | None = None
    row_filter: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ApprovalScope:
    datasets: tuple[DatasetScope, ...]
    expires_on: date
    daily_cell_budget: int = 2000
    note: str = ""
    # None: each dataset's declared mode (the ε-budget mode for the bundled data of people);
    # "sdc" for an analyst the steward accredits, whose outputs are reviewed (decision 0030q).
    disclosure_mode: str | None = None
    # ε each grant may add over its life in the ε-budget mode (None: the dataset's or the
    # portal's default: decision 0030u)
    lifetime_epsilon: float | None = None
    # cells each grant may release over its life in the statistical mode (None: the dataset's or
    # the portal's default: decision 0030w)
    lifetime_cells: int | None = None
    # ε each grant may spend a day in the ε-budget mode (None: the dataset's or the portal's)
    daily_epsilon: float | None = None


@dataclass(frozen=True)
class GrantSummary:
    id: int
    user_email: str
    dataset: str
    version: int | None
    columns: list[str] | None
    row_filter: list[dict[str, Any]]
    daily_cell_budget: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    application_id: int | None
    status: str  # active, expired, revoked
    disclosure_mode: str = "sdc"  # in force: the grant's override, else the dataset's declared mode
    # In the ε-budget mode (None otherwise): the ε the grant may add over its life, what its
    # account has spent on the dataset since the grant was made (under any of its grants), what is left.
    epsilon_lifetime: float | None = None
    epsilon_lifetime_spent: float | None = None
    epsilon_lifetime_left: float | None = None
    # In the statistical mode (None otherwise): the cells the grant may add over its life, what its
    # account has released from the dataset since the grant was made, what is left (decision 0030w).
    cells_lifetime: int | None = None
    cells_lifetime_spent: int | None = None
    cells_lifetime_left: int | None = None
    # The account whose budgets the grant charges when it is not the grant's own: the same
    # applicant's first account with a grant on the dataset (decision 0031e); "" to the applicant
    # (that it is another account, not which), None when it is the grant's own.
    budget_account: str | None = None


@dataclass(frozen=True)
class EventSummary:
    actor_email: str
    at: datetime
    from_state: str
    to_state: str
    reason: str


@dataclass(frozen=True)
class ApplicationSummary:
    id: int
    applicant: str
    datasets: list[str]
    purpose: str
    organisation: str
    fields_wanted: str
    intended_outputs: str
    duration_days: int
    state: str
    created_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None
    decided_at: datetime | None
    renews_id: int | None
    overdue: bool = False
    grants: list[GrantSummary] = field(default_factory=list)
    # The applicant's identity as the steward checks it against the documents (decision 0031e):
    # never the number, only its last four characters (None on applications before 0018l).
    applicant_name: str | None = None
    document_type: str | None = None
    id_last4: str | None = None
    credit_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict  # noqa: PLC0415 - only the API needs it
        return asdict(self)


@dataclass(frozen=True)
class ApplicationDetail(ApplicationSummary):
    """One application as it is read on its own: the summary and its history (`events`, oldest
    first). Lists carry summaries without it: a member that is always empty there would read as
    "no history"."""

    events: list[EventSummary] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """A change of state, for the notices sent after the commit (`portal/access/notices.py`)."""

    application_id: int
    applicant: str
    datasets: tuple[str, ...]
    from_state: str
    to_state: str
    reason: str
    stewards: tuple[str, ...]


def parse_row_filter(text: str) -> tuple[dict[str, Any], ...]:
    """Lines of `column op value` (`in`: values split by commas; `between`: two values) as filters.

    Raises:
        ValueError: a line that is not of that form, or an unknown operator.
    """
    found = []
    for number, line in enumerate(filter(None, (x.strip() for x in text.splitlines())), start=1):
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[1] not in ROW_FILTER_OPS:
            raise ValueError(f"line {number}: write `column op value` with op one of {', '.join(ROW_FILTER_OPS)}")
        column, op, value = parts
        if op in ("in", "between"):
            found.append({"column": column, "op": op, "value": [v.strip() for v in value.split(",") if v.strip()]})
        else:
            found.append({"column": column, "op": op, "value": value})
    return tuple(found)


def format_row_filter(filters: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None) -> str:
    """The inverse of `parse_row_filter`, for showing a grant's rows."""
    lines = []
    for f in filters or ():
        value = ", ".join(map(str, f["value"])) if isinstance(f.get("value"), list) else f.get("value")
        lines.append(f"{f['column']} {f['op']} {value}")
    return "\n".join(lines)
