"""Safe public aggregates: counts, and means of non-sensitive measures, of a conditional dataset
by one or two of its category fields, for anyone, signed in or not (docs/disclosure.md,
"Public aggregates"; docs/decisions/0021c).

A dataset whose grants are in the ε-budget mode (it names a person; decision 0030t) is answered
in that mode here too (decision 0030z): the broker's `private_queries` path, calibrated for one
person's records as an analyst's answer is, spending the public's ε (`PUBLIC_AGGREGATE_DAILY_EPSILON`
a day, `PUBLIC_AGGREGATE_LIFETIME_EPSILON` over all days and versions; `PublicEpsilon`). A
question is paid for once per version: its answer is kept (`PublicAnswer`) and given again to
whoever asks it, since fresh noise for each caller could be averaged away; a question the broker
refuses is kept as its refusal, refused again free (decision 0031b). The questions are
finitely many (one or two declared category fields, a few measures), so the public's ε on a
version is bounded twice: by the budget and by the questions there are.

There is no second implementation of disclosure control here. The question is turned into the
same JSON plan analyst code would send (`dataset(slug).group_by(a, b).agg(count())`) and answered
by the sandbox `Broker` with everything it applies to analysts: the policy, declared levels,
cell-key noise and rounding, the minimum cell, the noise of sums, the answer quantum and the shared
differencing memory (`memory.py`) that every analyst run also reads and writes. What is
different is only *who is charged*: all anonymous callers are one identity, "the public", with
one budget of cells per dataset per UTC day (`PUBLIC_AGGREGATE_DAILY_CELLS`), taken from the
audit log itself (the public runs of the day and the cells each was charged). A public aggregate
is recorded as a run (user `public`), so the steward audit pages show it with its plan.

Answers for one dataset are serialised (a lock per process, and a PostgreSQL advisory lock
across processes): the budget check, the charge and the memory update happen as one step, so two
callers racing cannot both spend the last cells, nor see a cell before the other's answer is
remembered.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from time import monotonic
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import store
from portal.analysis import audit, memory, public_epsilon
from portal.analysis.broker import Broker, GrantedSource, pad
from portal.analysis.disclosure import CellKeyNoise, Rules
from portal.analysis.epsilon import EpsilonBudget
from portal.analysis.keys import MissingKey
from portal.analysis.models import AnalysisRun, PublicAnswer
from portal.analysis.notes import localise
from portal.analysis.policy import SourceInfo
from portal.analysis.private_queries import PrivateAnswers
from portal.analysis.runtime import AnalysisSettings, app_settings
from portal.analysis.service import private_source
from portal.analysis.sources import analysis_source
from portal.auth import Actor
from portal.catalog.disclosure_settings import PrivacySettings, public_aggregates_on, sum_bounds
from portal.catalog.models import Dataset, utcnow
from portal.catalog.service import get_dataset
from portal.db import (
    budget_day_start,
    held_across_processes,
    seconds_to_next_budget_day,
)
from portal.errors import BadRequest, Forbidden, PortalError

PUBLIC_EMAIL = "public"  # the one audit identity of every public aggregate, signed in or not
PUBLIC_GRANT = public_epsilon.PUBLIC_GRANT  # the broker's budget key for the public (no real grant has id 0)
MAX_FIELDS = 2
STATS = ("count", "mean")
DEADLINE_SECONDS = 10.0

class Unavailable(PortalError):
    """No disclosure key on this instance (`kaifang init` writes one): nothing conditional is answered."""

    status, code, title = 403, "public-aggregates-unavailable", "Public aggregates unavailable"


class BudgetSpent(PortalError):
    status, code, title = 429, "public-budget-spent", "Public budget spent"


class Refused(PortalError):
    """The broker refused the question; `code` is `refused-<rule>`, `rule` the broker's rule."""

    status, code, title = 400, "refused", "Refused by disclosure control"

    def __init__(self, rule: str, reason: str, *, run_id: str):
        super().__init__(reason, code=f"refused-{rule}")
        self.rule, self.run_id = rule, run_id


@dataclass(frozen=True)
class Question:
    by: tuple[str, ...]
    stat: str = "count"
    measure: str | None = None

    @classmethod
    def parse(cls, by: str | list[str] | tuple[str, ...], stat: str = "count", measure: str | None = None) -> Question:
        """Raises: BadRequest (`too-many-fields`, `no-fields`, `bad-stat`, `measure-required`,
        `measure-not-allowed`, `duplicate-field`)."""
        fields = [f.strip() for f in (by.split(",") if isinstance(by, str) else by) if f and f.strip()]
        if not fields:
            raise BadRequest("name one or two category fields in `by`", code="no-fields")
        if len(fields) > MAX_FIELDS:
            raise BadRequest(f"at most {MAX_FIELDS} category fields, not {len(fields)}", code="too-many-fields")
        if len(set(fields)) != len(fields):
            raise BadRequest("a field is named twice in `by`", code="duplicate-field")
        stat = (stat or "count").strip()
        if stat not in STATS:
            raise BadRequest(f"stat must be one of {', '.join(STATS)}, not {stat!r}", code="bad-stat")
        measure = (measure or "").strip() or None
        if stat == "mean" and measure is None:
            raise BadRequest("a mean needs a `measure` (a numeric field)", code="measure-required")
        if stat == "count" and measure is not None:
            raise BadRequest("a count takes no `measure`; ask for stat=mean", code="measure-not-allowed")
        return cls(tuple(fields), stat, measure)

    @property
    def canonical(self) -> tuple:
        """What the question asks, whatever the order of its fields: the same cells either way."""
        return tuple(sorted(self.by)), self.stat, self.measure


@dataclass(frozen=True)
class FieldChoice:
    name: str
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choices:
    """What the public form offers: category fields (declared levels, neither identifier nor
    sensitive) and numeric measures (declared bounds, not sensitive)."""

    dataset: str
    categories: tuple[FieldChoice, ...]
    measures: tuple[str, ...]
    daily_cells: int
    cells_left: int
    mode: str = "sdc"  # "dp": answered in the ε-budget mode, spending the public's ε (decision 0030z)
    epsilon: dict[str, float] | None = None  # in that mode: `daily`, `left_today`, `lifetime`, `left`


@dataclass(frozen=True)
class Answer:
    dataset: str
    version: int
    by: tuple[str, ...]
    stat: str
    measure: str | None
    columns: list[str]
    rows: list[list[Any]]
    notes: list[dict[str, Any]]  # `notes.note` objects; `localised()` adds each one's `message`
    suppressed: dict[str, int]
    cells_charged: int | None  # None in the ε-budget mode, which spends ε, not cells
    cells_left: int | None
    daily_cells: int | None
    run_id: str
    rules: dict[str, Any] = field(default_factory=dict)
    mode: str = "sdc"  # "dp": released by the ε-budget mode's mechanisms (decision 0030z)
    # in that mode: `spent` (this answer: 0 for one kept from an earlier caller), `per_query`,
    # `daily`, `left_today`, `lifetime`, `left` — the public's, on this dataset
    epsilon: dict[str, float] | None = None

    def localised(self, headers: list[str] | None = None) -> Answer:
        """The answer with its notes' `message` in the request's language (for the views); with
        `headers` (the page's titles of `columns`, in order) the notes name the columns by them."""
        columns = dict(zip(self.columns, headers, strict=True)) if headers and len(headers) == len(self.columns) else None
        return replace(self, notes=localise(self.notes, columns=columns))


def choices(session: Session, actor: Actor, slug: str, settings: AnalysisSettings, daily_cells: int) -> Choices:
    """Raises: NotFound (not visible); Forbidden (`public-aggregate-closed`, `public-aggregate-open`)."""
    source = _source(session, actor, slug, settings)
    categories = tuple(FieldChoice(name, tuple(str(v) for v in source.levels[name]))
                       for name in _columns(source) if name in source.levels
                       and name not in source.identifiers and name not in source.sensitive)
    measures = tuple(name for name in _columns(source) if name in source.bounds
                     and name not in source.identifiers and name not in source.sensitive)
    if _privacy(source, settings).mode == "dp":
        budget = public_epsilon.budget(session, _dataset_id(session, slug), settings)
        return Choices(slug, categories, measures, 0, 0, "dp", public_epsilon.figures(budget))
    return Choices(slug, categories, measures, daily_cells, max(0, daily_cells - _today(session, slug)[0]))


def ask(session: Session, actor: Actor, slug: str, question: Question, settings: AnalysisSettings,
        daily_cells: int) -> Answer:
    """Answer one public question through the broker, audited as a run of the public.

    Raises:
        NotFound: no visible dataset `slug`.
        Forbidden: a closed dataset (`public-aggregate-closed`), an open one (`public-aggregate-open`:
            its rows and charts are public already) or one whose publisher turned them off
            (`public-aggregates-off-dataset`). A dataset whose grants are in the ε-budget mode is
            answered in that mode, spending the public's ε (decision 0030z).
        BadRequest: `unknown-field`, `identifier-field`, `sensitive-field`, `not-a-category`, `not-a-measure`.
        BudgetSpent: the public's cells for this dataset are spent for today (audited as a refusal).
        Refused: any other refusal of the broker (audited).
    """
    source = _source(session, actor, slug, settings)
    if daily_cells <= 0:
        raise Forbidden("public aggregates are turned off on this portal", code="public-aggregates-off")
    _check_fields(source, question)
    plan = _plan(slug, question)
    info = SourceInfo(slug=slug, conditional=True, columns=_columns(source), identifiers=source.identifiers,
                      sensitive=source.sensitive, bounds=source.bounds, levels=source.levels,
                      sum_bounds=sum_bounds(source.disclosure, source.bounds), missing=source.missing,
                      zero=source.zero)
    rules = Rules.with_overrides(source.disclosure)
    privacy = _privacy(source, settings)
    if privacy.mode == "dp":
        return _ask_private(session, actor, source, question, settings, info, rules, privacy)
    with _serialised(session, slug):
        started = monotonic()
        spent, asked = _today(session, slug)
        left = max(0, daily_cells - spent)
        # A question asked today of this version (in any order of its fields) gets the same
        # answer again, so it is answered without a charge: only new questions spend the budget.
        repeat = (source.version, question.canonical) in asked
        granted = GrantedSource(info=info, table=source.table, rules=rules,
                                row_salt=settings.key.row_salt(slug),
                                grant_id=None if repeat else PUBLIC_GRANT, version=source.version)
        broker = Broker({slug: granted}, noise=CellKeyNoise(settings.key.noise_key()), budget_left={PUBLIC_GRANT: left},
                        registry=memory.registry(session, settings.key.fingerprint, settings.memory_cells,
                                                 grid=settings.key.grid_key()),
                        quantum=settings.answer_quantum)
        record = _open_record(session, actor, slug, source.version, question)
        try:
            answer = _execute(broker, plan, source, settings)
        except BaseException:
            _close_record(session, record, broker, "error", settings)
            raise
        status = "ok" if answer.get("status") == "ok" else "refused"
        _close_record(session, record, broker, status, settings)
        # Remembering the cells writes one row per cell with records, listed or not: the whole
        # answer, not only the broker's part, leaves at a multiple of the quantum.
        pad(started, settings.answer_quantum)
    if status != "ok":
        raise _refused(answer, record.run_id, "budget",
                       f"the public's {daily_cells} cells a day for {slug} are spent until 00:00 UTC; "
                       "try then, or apply for access to analyse it")
    tally = broker.tally
    rows = _grid(answer["rows"], [source.levels[name] for name in question.by], len(answer["columns"]))
    return Answer(slug, source.version, question.by, question.stat, question.measure,
                  [c["name"] for c in answer["columns"]], rows, list(answer.get("notes", [])),
                  dict(tally.suppressed), tally.cells_charged, max(0, left - tally.cells_charged), daily_cells,
                  record.run_id, {"min_cell": rules.min_cell, "rounding_base": rules.rounding_base})


def _ask_private(session: Session, actor: Actor, source, question: Question, settings: AnalysisSettings,
                 info: SourceInfo, rules: Rules, privacy: PrivacySettings) -> Answer:
    """The ε-budget mode's answer: the one kept for this question and version, or a new one
    paid from the public's ε and kept. Serialised per dataset like the statistical path, so two
    callers cannot both spend the last ε, nor both pay for one question.

    A question the broker refuses for a rule of its own (`too-many-groups`, ...; not the budget,
    a 429 that keeps nothing) is kept as its refusal: such a refusal follows from the question
    and the dictionary alone, and charging each repeat let one visitor spend the public's ε of
    every day and version on one refused question, 0.1 a request (thirty-seventh round,
    decision 0031b)."""
    slug = source.slug
    dataset_id = _dataset_id(session, slug)
    asked = json.dumps(question.canonical, ensure_ascii=False)
    with _serialised(session, slug):
        started = monotonic()
        budget = public_epsilon.budget(session, dataset_id, settings)
        before = budget.spent_lifetime(PUBLIC_GRANT)
        kept = session.scalar(select(PublicAnswer.answer).where(
            PublicAnswer.dataset_id == dataset_id, PublicAnswer.version == source.version, PublicAnswer.question == asked))
        first: Refused | None = None
        if kept is None:
            try:
                kept = _release_private(session, actor, source, question, settings, info, rules, privacy, budget,
                                        dataset_id)
            except Refused as refused:  # charged and recorded already; kept, so a repeat is free
                first, kept = refused, public_epsilon.kept_refusal(refused.rule, refused.detail, refused.run_id)
            session.add(PublicAnswer(dataset_id=dataset_id, version=source.version, question=asked, answer=kept))
            public_epsilon.charge(session, dataset_id, budget)
            session.commit()
        pad(started, settings.answer_quantum)
    if first is not None:
        raise first
    if "refused" in kept:
        rule, reason = kept["refused"]["rule"], kept["refused"]["reason"]
        raise Refused(rule, f"this question was refused when first asked of this version, and is refused again "
                            f"without spending anything: {reason}", run_id=kept["run_id"])
    columns, rows = public_epsilon.in_order_of(kept, question.by)
    return Answer(slug, source.version, question.by, question.stat, question.measure, columns,
                  _grid(rows, [source.levels[name] for name in question.by], len(columns)),
                  list(kept["notes"]), {}, None, None, None, kept["run_id"], {}, "dp",
                  {"spent": round(budget.spent_lifetime(PUBLIC_GRANT) - before, 9), "per_query": privacy.epsilon_per_query,
                   **public_epsilon.figures(budget)})


def _release_private(session: Session, actor: Actor, source, question: Question, settings: AnalysisSettings,
                     info: SourceInfo, rules: Rules, privacy: PrivacySettings, budget: EpsilonBudget,
                     dataset_id: int) -> dict[str, Any]:
    """Ask the broker once, audited as a run of the public; the ε it spends is charged whatever
    comes of the query (`public_epsilon.charge`, also on an error). Raises: BudgetSpent, Refused."""
    slug = source.slug
    granted = GrantedSource(info=info, table=source.table, rules=rules, row_salt=settings.key.row_salt(slug),
                            grant_id=PUBLIC_GRANT, version=source.version)
    broker = Broker({slug: granted}, noise=CellKeyNoise(settings.key.noise_key()), budget_left={PUBLIC_GRANT: 0},
                    quantum=settings.answer_quantum,
                    private=PrivateAnswers({slug: private_source(PUBLIC_GRANT, source, privacy)}, budget))
    record = _open_record(session, actor, slug, source.version, question)
    try:  # asked with its fields in one order, whichever the caller's: kept once for both
        answer = _execute(broker, _plan(slug, replace(question, by=tuple(sorted(question.by)))), source, settings)
    except BaseException:
        public_epsilon.charge(session, dataset_id, budget)
        _close_record(session, record, broker, "error", settings)
        raise
    if answer.get("status") != "ok":
        public_epsilon.charge(session, dataset_id, budget)
        _close_record(session, record, broker, "refused", settings)
        raise _refused(answer, record.run_id, "epsilon-budget",
                       f"the public's ε for {slug} is spent ({public_epsilon.text(budget)}); "
                       "questions answered before are still answered; apply for access to analyse it")
    _close_record(session, record, broker, "ok", settings, commit=False)
    width = len(question.by)
    names = [c["name"] for c in answer["columns"]]  # the keys in sorted order (the plan's)
    name = "count" if question.stat == "count" else f"mean_{question.measure}"
    # The keys, the figure and its 95 % interval (the notes name the interval's columns)
    kept = [names.index(n) for n in (name, f"{name}_low", f"{name}_high")]
    rows = [[*row[:width], *(public_epsilon.shown(row[i]) for i in kept)] for row in answer["rows"]]
    return {"columns": [*names[:width], *(names[i] for i in kept)], "rows": rows, "run_id": record.run_id,
            "notes": [n for n in answer.get("notes", []) if n.get("code") != "epsilon-spent"]}


def _execute(broker: Broker, plan: dict[str, Any], source, settings: AnalysisSettings) -> dict[str, Any]:
    """The broker's answer to one plan, stopped after DEADLINE_SECONDS."""
    with store.confined(source.table.files(), memory_limit=settings.duckdb_memory,
                        threads=settings.duckdb_threads) as lease:
        timer = threading.Timer(DEADLINE_SECONDS, lease.interrupt)
        timer.daemon = True
        timer.start()
        try:
            return broker.execute(plan)
        finally:
            timer.cancel()


def _privacy(source, settings: AnalysisSettings) -> PrivacySettings:
    """The dataset's declared mode and ε (no grant: the public has none)."""
    return PrivacySettings.resolve(source.disclosure, defaults=settings.epsilon)


def _refused(answer: dict[str, Any], run_id: str, budget_rule: str, spent: str) -> PortalError:
    """The problem for a refused answer: `429 public-budget-spent` (saying `spent`) when the
    broker's rule is the mode's budget (`budget_rule`), else `Refused` with the broker's rule."""
    rule, reason = str(answer.get("rule", "")), str(answer.get("reason", ""))
    if rule == budget_rule:
        return BudgetSpent(spent, headers={"Retry-After": str(seconds_to_next_budget_day())})
    return Refused(rule, reason, run_id=run_id)


def _dataset_id(session: Session, slug: str) -> int:
    return session.scalar(select(Dataset.id).where(Dataset.slug == slug))


def _grid(rows: list[list[Any]], levels: list[tuple], width: int) -> list[list[Any]]:
    """Every combination of the declared levels, in their declared order: the broker lists only
    the cells it releases, and a visitor should see each unlisted one, marked, in its place. The
    grid depends on public metadata only, like the broker's candidate cells."""
    released = {tuple(row[:len(levels)]): row for row in rows}
    return [list(released.get(key) or [*key, *([None] * (width - len(key)))])
            for key in itertools.product(*levels)]


def _source(session: Session, actor: Actor, slug: str, settings: AnalysisSettings):
    detail = get_dataset(session, actor, slug)  # NotFound for what the actor may not see
    open_class = detail.summary.open_class
    if open_class == "closed":
        raise Forbidden("this dataset is closed: no aggregates of it are published", code="public-aggregate-closed")
    if open_class != "conditional":
        raise Forbidden("this dataset is open: its rows and charts are public, use them instead",
                        code="public-aggregate-open")
    source = analysis_source(session, slug, data_dir=settings.data_dir)
    if not public_aggregates_on(source.disclosure):
        raise Forbidden("the publisher has turned this dataset's public aggregates off",
                        code="public-aggregates-off-dataset")
    return source


def _columns(source) -> tuple[str, ...]:
    return tuple(c.name for c in source.table.columns)


def _check_fields(source, question: Question) -> None:
    """Input checks on public metadata only, so the visitor is told which field is wrong and why
    before anything is charged; the broker applies the disclosure rules themselves."""
    columns = set(_columns(source))
    for name in (*question.by, *([question.measure] if question.measure else [])):
        if name not in columns:
            raise BadRequest(f"this dataset has no field {name!r}", code="unknown-field")
        if name in source.identifiers:
            raise BadRequest(f"{name!r} identifies people or records: it is never grouped or averaged",
                             code="identifier-field")
        if name in source.sensitive:
            raise BadRequest(f"{name!r} is a sensitive field: public aggregates never group by it or average it",
                             code="sensitive-field")
    for name in question.by:
        if name not in source.levels:
            raise BadRequest(f"{name!r} is not a category field (it has no declared list of values)",
                             code="not-a-category")
    if question.measure and question.measure not in source.bounds:
        raise BadRequest(f"{question.measure!r} is not a numeric measure with declared bounds", code="not-a-measure")


def _plan(slug: str, question: Question) -> dict[str, Any]:
    """The plan analyst code `dataset(slug).group_by(*by).agg(...).collect()` would send."""
    if question.stat == "count":
        agg = {"op": "alias", "name": "count", "expr": {"op": "count", "args": []}}
    else:
        agg = {"op": "alias", "name": f"mean_{question.measure}",
               "expr": {"op": "mean", "args": [{"op": "col", "name": question.measure}]}}
    return {"version": 1, "action": "collect", "source": slug,
            "steps": [{"op": "group_by", "keys": list(question.by), "aggs": [agg]}]}


def _describe(slug: str, question: Question) -> str:
    """What the audit keeps as the run's code: the question, as analyst code would ask it."""
    keys = ", ".join(repr(k) for k in question.by)
    agg = "count()" if question.stat == "count" else f"mean({question.measure!r})"
    return f"# public aggregate\ndataset({slug!r}).group_by({keys}).agg({agg}).collect()\n"


def _today(session: Session, slug: str) -> tuple[int, set[tuple[int, tuple]]]:
    """Cells charged to the public for `slug` since 00:00 UTC, from the audit log, and the
    questions (version, canonical form) answered for it meanwhile (not refused ones: a question
    refused for the budget was never answered). Only charged runs are read, at most one per cell
    of the budget (free repeats are not read: the first answer of a question was charged)."""
    rows = session.execute(select(AnalysisRun.grants, AnalysisRun.cells_charged, AnalysisRun.status).where(
        AnalysisRun.user_email == PUBLIC_EMAIL, AnalysisRun.user_id.is_(None), AnalysisRun.started_at >= budget_day_start(),
        AnalysisRun.cells_charged > 0))
    spent, asked = 0, set()
    for grants, cells, status in rows:
        if not grants or grants[0].get("dataset") != slug:
            continue
        spent += cells or 0
        found = grants[0].get("question")
        if status == "ok" and found:
            asked.add((grants[0].get("version"), Question(tuple(found["by"]), found["stat"], found["measure"]).canonical))
    return spent, asked


@contextmanager
def _serialised(session: Session, slug: str) -> Iterator[None]:
    with held_across_processes(session.get_bind(), f"public-aggregate:{slug}"):
        yield


def _open_record(session: Session, actor: Actor, slug: str, version: int, question: Question) -> AnalysisRun:
    code = _describe(slug, question)
    raw = code.encode("utf-8")
    record = AnalysisRun(run_id=uuid.uuid4().hex, user_id=None, user_email=PUBLIC_EMAIL,
                         code_sha256=hashlib.sha256(raw).hexdigest(), code_bytes=len(raw), code_encrypted=None,
                         grants=[{"dataset": slug, "version": version, "level": "public", "grant_id": None,
                                  "question": json.loads(json.dumps({"by": list(question.by), "stat": question.stat,
                                                                     "measure": question.measure}))}])
    session.add(record)
    session.commit()
    return record


def _close_record(session: Session, record: AnalysisRun, broker: Broker, status: str,
                  settings: AnalysisSettings, *, commit: bool = True) -> None:
    tally = broker.tally
    record.finished_at = utcnow()
    record.status = status
    record.message = "; ".join(f"{r['rule']}: {r['reason']}" for r in tally.refusals)[:2000]
    audit.copy_tally(record, tally, broker.epsilon_spent)
    audit.record_queries(session, record, tally.log)
    memory.store(session, broker.registry, fingerprint=settings.key.fingerprint, capacity=settings.memory_cells)
    if commit:
        session.commit()

def settings_and_budget() -> tuple[AnalysisSettings, int]:
    """Raises: Unavailable when the instance has no disclosure key."""
    try:
        return app_settings(current_app), int(current_app.config["PUBLIC_AGGREGATE_DAILY_CELLS"])
    except MissingKey as exc:
        raise Unavailable("this portal has no disclosure key yet, so it answers nothing about "
                          "conditional data") from exc
