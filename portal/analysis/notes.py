"""The broker's notes — what disclosure control did to a released answer — as stable codes.

A note is a plain JSON object `{"code": ..., "params": {...}, "text": ...}`: `code` is stable (it
names the rule, e.g. `min-cell`, documented in docs/disclosure.md, "Notes"), `params` are the
public numbers the sentence needs (the rules' settings, the ε spent: never anything counted from
the records), and `text` is the English sentence, kept so that `kaifang sandbox-run --json` and
stored runs read on their own. The broker writes them in English because it runs without a
request; pages and API answers translate at the view layer with `localise`, which adds
`message` in the request's language (zh-CN or English), from the code and params alone.

Like the notes themselves, this module depends on the plan and the rules only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


def N_(text: str) -> str:
    """Marks a msgid for `pybabel extract -k N_` (like portal.errors.N_, which would pull Flask
    into the pure disclosure modules that import this one)."""
    return text

# code -> English template (a msgid: `localise` translates it); params fill %(name)s.
TEMPLATES: dict[str, str] = {
    "min-cell": N_("Cells with fewer than about %(min_cell)s records (decided on a perturbed count) are not listed, "
                   "and a value with too few contributors is null: a suppressed cell looks like an empty one"),
    "count-rounding": N_("Counts perturbed (cell key) and rounded to base %(rounding_base)s"),
    "magnitude-noise": N_("Sums and means of sensitive values: each value held inside the range published for sums, "
                          "then consistent noise of at least %(factor)s times what one record can add (at least "
                          "+-%(percent)s%% of a large sum), %(figures)s significant figures; sums of other values with "
                          "a count's noise"),
    "rows-cap": N_("First %(rows)s rows only"),
    "dp-mode": N_("ε-budget mode (differential privacy): ε %(epsilon)s per statistic (a mean spends half on its sum "
                  "and half on its count); every combination of declared levels is listed, empty ones too, and "
                  "records with other key values are left out"),
    "dp-statistic": N_("%(name)s: %(mechanism)s noise, scale %(scale)s"),
    "dp-statistic-interval": N_("%(name)s: %(mechanism)s noise, scale %(scale)s; 95 %% interval in "
                                "%(name)s_low/%(name)s_high"),
    "dp-mean-interval": N_("%(name)s: a sum with Laplace noise (scale %(scale)s) over a count with discrete Laplace "
                           "noise (scale %(count_scale)s); 95 %% interval in %(name)s_low/%(name)s_high"),
    "dp-person": N_("Each person (%(field)s) counts with at most %(cap)s of the records this query selects, and "
                    "the noise is calibrated for one person's records added or removed; a person's further records "
                    "are left out, so counts and sums may be low; so are records with no %(field)s"),
    "dp-count": N_("Count with discrete Laplace noise (scale %(scale)s); 95 %% interval %(low)s to %(high)s"),
    "epsilon-spent": N_("ε %(epsilon)s spent on this query, refused or not; ε spent %(spent)s of %(daily)s today"),
}
# the names of the ε-budget mode's noise mechanisms, shown inside `dp-statistic`
MECHANISMS: dict[str, str] = {
    "discrete-laplace": N_("discrete Laplace"),
    "laplace": N_("Laplace"),
}
# A median or quantile (`dp-statistic` with mechanism `exponential`) is not "<name> noise": the
# exponential mechanism picks a candidate, its scale counted in ranks, so it has its own sentence
# (the code and params stay those of `dp-statistic`, stored notes included).
EXPONENTIAL = N_("%(name)s: exponential mechanism over ranks, noise scale %(scale)s")
# An interval's note on a page whose table titles its columns (the public aggregate page:
# "Number of records", "Low end (95 in 100 interval)"): the same sentence in the titles' words,
# the figure's column name beside its title (`localise(..., columns=...)`).
HEADED: dict[str, str] = {
    "dp-statistic-interval": N_("%(label)s (%(name)s): %(mechanism)s noise, scale %(scale)s; its 95 %% interval in "
                                "the columns “%(low)s” and “%(high)s”"),
    "dp-mean-interval": N_("%(label)s (%(name)s): a sum with Laplace noise (scale %(scale)s) over a count with "
                           "discrete Laplace noise (scale %(count_scale)s); its 95 %% interval in the columns "
                           "“%(low)s” and “%(high)s”"),
}

# refusal rule -> what it means, in a sentence the views translate (the broker's `reason` stays
# beside it: precise, English, sometimes naming the analyst's column)
REFUSALS: dict[str, str] = {
    "identifier": N_("a field that identifies people or records is never filtered on, grouped, aggregated or returned"),
    "rows-not-released": N_("conditional data is released only as aggregates: add group_by(...).agg(...) or count()"),
    "after-aggregate": N_("after aggregating conditional data only sort and limit may follow"),
    "sensitive-group": N_("no group key may be computed from a sensitive field"),
    "sensitive-join": N_("no join on a key computed from a sensitive field"),
    "sensitive-statistic": N_("this statistic is not released for a sensitive field"),
    "order-statistic": N_("minima, maxima, medians, quantiles and standard deviations of conditional data are not released"),
    "distinct-count": N_("counts of distinct values of conditional data are not released: group by the field and count the listed groups"),
    "statistic-form": N_("a sum or mean of conditional data takes one of its fields (times and plus numbers that do not round it, or a date's year, month or day): select records with filter and group_by"),
    "sensitive-filter": N_("a sensitive value may be compared only with a round number (two significant figures), or tested for null"),
    "sensitive-transform": N_("only arithmetic may be applied to a sensitive value"),
    "out-of-range": N_("the declared bounds allow values too large for this computation"),
    "division-by-zero": N_("a divisor's declared range contains zero"),
    "unbounded": N_("a sum or arithmetic needs fields with declared bounds"),
    "too-many-groups": N_("too many combinations of declared levels: use coarser group keys"),
    "limit-before-aggregate": N_("no limit before aggregating conditional data"),
    "nested-aggregate": N_("with conditional data, aggregate in the main pipeline, after any join"),
    "one-conditional-source": N_("a query reads one conditional dataset, once"),
    "conditional-first": N_("the conditional dataset must be the query's main source"),
    "join-fan-out": N_("joined data must have one row per join key"),
    "too-many-statistics": N_("at most 10 statistics per aggregation of conditional data"),
    "grant": N_("this run may not use the dataset"),
    "no-grant": N_("an approved, unexpired grant is needed for this dataset"),
    "query-cap": N_("too many queries in one run"),
    "unknown-column": N_("the query names a column that does not exist at that point"),
    "duplicate-column": N_("two columns of the answer would have the same name: rename one with alias()"),
    "dp-levels": N_("in the ε-budget mode a group key must be a field with declared category levels"),
    "dp-statistic": N_("the ε-budget mode releases count, sum, mean, median and quantile only"),
    "dp-bounds": N_("in the ε-budget mode a statistic takes one numeric field with declared bounds, as it is"),
    "budget": N_("today's budget of released cells for this grant is spent; it renews at 00:00 UTC"),
    # a `budget` refusal by another ledger than the grant's today (its `detail`; decision 0030w)
    "budget/person": N_("today's budget of released cells for this dataset is spent under your other grants on it: "
                        "the daily cells are per person and dataset; it renews at 00:00 UTC"),
    "budget/lifetime": N_("the cells this grant may release over its life are spent: they do not renew; "
                          "a steward may approve more in a new application"),
    "epsilon-budget": N_("today's ε budget for this dataset is spent; it renews at 00:00 UTC"),
    # an `epsilon-budget` refusal by another ledger than the grant's today (its `detail`)
    "epsilon-budget/person": N_("today's ε budget for this dataset is spent under your other grants on it: "
                                "the daily ε is per person and dataset; it renews at 00:00 UTC"),
    "epsilon-budget/lifetime": N_("the ε this grant may spend over its life is spent: it does not renew; "
                                  "a steward may approve more in a new application"),
}


# why a session's cell could not run at all (its result's `code`, docs/sessions.md, "Runs") ->
# the sentence the views show in the request's language; the queue worker's precise English
# `message` stays beside it as `text`
RUN_ERRORS: dict[str, str] = {
    "no-grant": N_("the grant for a dataset of this session was revoked or has expired since the cell was sent"),
    "closed-dataset": N_("a dataset of this session was closed since the cell was sent"),
    "dataset-not-found": N_("a dataset of this session no longer exists"),
    "session-closed": N_("the session was closed or expired before this cell's turn"),
    "cpu-budget-exhausted": N_("today's CPU seconds for sandbox runs are used up; they renew at 00:00 UTC"),
    "account-inactive": N_("the account that sent this cell is no longer active"),
    "key-revoked": N_("the API key this cell was sent with was revoked or has expired since"),
    "sandbox-failed": N_("the sandbox could not run this cell; nothing of it was released"),
    "worker-lost": N_("the worker running this cell stopped; the cell was not run again"),
}


# what the sandbox says of a run that finished (sandbox/execution.py, `_outcome`): the fixed English
# part -> the sentence the views show in the request's language. A refusal's carries the broker's
# precise English reason after it, and a result cut to its size cap what was dropped (both kept).
RUN_FINISHED = N_("run finished")
QUERY_REFUSED = "a query was refused: "
QUERY_REFUSED_MESSAGE = N_("a query was refused: %(reason)s")
# A run its supervisor stopped (sandbox/supervisor.py, `_ending`): each of its sentences, matched
# whole, in the reader's language with its figure (which limit, which signal) kept; a sentence not
# listed here stays English. The English stays in `text` either way.
STOPPED = (
    (re.compile(r"stopped: the wall-clock limit of (?P<n>[\d.]+) s was reached"),
     N_("stopped: the wall-clock limit of %(n)s s was reached; the variables are as they were before this cell")),
    (re.compile(r"stopped: the CPU limit of (?P<n>\d+) s was reached"),
     N_("stopped: the CPU limit of %(n)s s was reached; the variables are as they were before this cell")),
    (re.compile(r"killed: policy violation \(a forbidden system call\)"),
     N_("killed: a forbidden system call; the variables are as they were before this cell")),
    (re.compile(r"killed by the kernel \(CPU hard limit or out of memory\)"),
     N_("killed by the kernel (CPU hard limit or out of memory); the variables are as they were before this cell")),
    (re.compile(r"the worker died with signal (?P<n>\w+)"),
     N_("the worker died with signal %(n)s; the variables are as they were before this cell")),
    (re.compile(r"killed: the worker broke the protocol"),
     N_("killed: the worker broke the protocol; the variables are as they were before this cell")),
    (re.compile(r"the worker ended without a result \(exit status (?P<n>-?\w+)\)"),
     N_("the worker ended without a result (exit status %(n)s); the variables are as they were before this cell")),
)


def note(code: str, **params: Any) -> dict[str, Any]:
    """A note of `code` with its English text (KeyError for an unknown code: codes are declared)."""
    return {"code": code, "params": params, "text": _fill(_template(code, params), params, lambda s: s)}


def _template(code: str, params: dict[str, Any]) -> str:
    """The English sentence of a note: its code's, or for the exponential mechanism its own."""
    if code == "dp-statistic" and params.get("mechanism") == "exponential":
        return EXPONENTIAL
    return TEMPLATES[code]


def localise(notes: Iterable[Any], translate=None, columns: dict[str, str] | None = None) -> list[Any]:
    """The notes with `message` in the request's language added (Flask-Babel's `gettext` unless
    `translate` is given). Notes stored before they had codes (plain strings) pass unchanged.
    `columns` ({column name: the title the page shows}) words an interval's note in those titles."""
    if translate is None:
        from flask_babel import gettext as translate  # noqa: PLC0415 - only views translate
    out: list[Any] = []
    for item in notes:
        if isinstance(item, dict) and item.get("code") in TEMPLATES:
            params = item.get("params") or {}
            template = _template(item["code"], params)
            if (headed := _headed(item["code"], params, columns)) is not None:
                template, params = HEADED[item["code"]], headed
            out.append({**item, "message": _fill(translate(template), params, translate)})
        else:
            out.append(item)
    return out


def _headed(code: str, params: dict[str, Any], columns: dict[str, str] | None) -> dict[str, Any] | None:
    """The params of an interval's note in the page's column titles, when the page titles them all."""
    name = params.get("name")
    if code not in HEADED or not columns or not all(n in columns for n in (name, f"{name}_low", f"{name}_high")):
        return None
    return {**params, "label": columns[name], "low": columns[f"{name}_low"], "high": columns[f"{name}_high"]}


def localise_result(result: dict[str, Any] | None, translate=None) -> dict[str, Any] | None:
    """A run's result with every released query's notes localised, each refusal of a known
    rule with `message` in the request's language (the sessions' API and pages), and a cell that
    could not run, or one that finished (ran well, or a query was refused), with `message` in
    that language and its English one as `text`."""
    if result and result.get("status") == "error" and result.get("code") in RUN_ERRORS:
        return {**result, "text": result.get("message", ""),
                "message": _translated(translate, RUN_ERRORS[result["code"]])}
    result = _finished(result, translate)
    if not result or not (result.get("released") or result.get("refused")):
        return result
    out = dict(result)
    if result.get("released"):
        out["released"] = [{**r, "notes": localise(r.get("notes") or (), translate)} if isinstance(r, dict) else r
                           for r in result["released"]]
    if result.get("refused"):
        out["refused"] = [{**r, "message": _translated(translate, REFUSALS[_refusal_key(r)])}
                          if isinstance(r, dict) and r.get("rule") in REFUSALS else r for r in result["refused"]]
    return out


def _finished(result: dict[str, Any] | None, translate) -> dict[str, Any] | None:
    """A finished run's sandbox message in the request's language: its fixed part translated,
    what follows it (the broker's reason, a note of what the size cap dropped) as it is; a
    stopped run's sentence with its figure."""
    message = result.get("message") if result else None
    if not isinstance(message, str):
        return result
    if result.get("status") == "ok" and message.startswith(RUN_FINISHED):
        shown = _translated(translate, RUN_FINISHED) + message[len(RUN_FINISHED):]
    elif result.get("status") == "refused" and message.startswith(QUERY_REFUSED):
        shown = _translated(translate, QUERY_REFUSED_MESSAGE) % {"reason": message[len(QUERY_REFUSED):]}
    elif result.get("status") in ("timeout", "killed") and (found := _stopped(message)):
        match, sentence = found
        shown = _translated(translate, sentence) % match.groupdict()
    else:
        return result
    return {**result, "text": message, "message": shown}


def _stopped(message: str) -> tuple[re.Match, str] | None:
    """The supervisor's sentence matched whole, with its translatable form (None: not listed)."""
    return next(((match, sentence) for pattern, sentence in STOPPED if (match := pattern.fullmatch(message))), None)


def _refusal_key(refusal: dict[str, Any]) -> str:
    """The rule, or the rule and its `detail` when that has a sentence of its own."""
    refined = f"{refusal['rule']}/{refusal.get('detail')}"
    return refined if refined in REFUSALS else refusal["rule"]


def _translated(translate, msgid: str) -> str:
    if translate is None:
        from flask_babel import gettext as translate  # noqa: PLC0415
    return translate(msgid)


def _fill(template: str, params: dict[str, Any], translate) -> str:
    values = dict(params)
    if "mechanism" in values and values["mechanism"] in MECHANISMS:
        values["mechanism"] = translate(MECHANISMS[values["mechanism"]])
    return template % values
