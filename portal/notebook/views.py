"""The notebook pages: the list of one's sessions (start one, reopen a saved one), a session's
page of cells, its `.py` export and its cell budget.

The pages hold no analysis logic: cells are run through the sessions service's browser JSON
routes (`/notebook/api/...`, portal/sessions), by static/js/notebook.js. What the page needs to
start (the session, its datasets' public metadata, completion words, examples, the strings the
script shows) travels in one `data-config` attribute, since the CSP allows no inline script.
Another person's session is a 404, exactly like an unknown one (the service decides).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext, pgettext

from portal.access.service import usable_datasets
from portal.accounts.views import login_required
from portal.auth import current_actor
from portal.catalog.models import utcnow
from portal.db import get_session
from portal.errors import PortalError
from portal.notebook import datasets as notebook_datasets
from portal.notebook.examples import examples_for
from portal.notebook.export import ExportedCell, ExportedDataset, filename, notebook_source
from portal.notebook.reference import FUNCTIONS, METHODS, completion_words
from portal.serialise import plain
from portal.sessions import service as sessions
from portal.sessions.service import SessionLimits, localised

bp = Blueprint("notebook", __name__, url_prefix="/notebook")


@bp.app_context_processor
def _links() -> dict:
    """`notebook_usable(slug)` for the dataset page: whether the signed-in visitor may analyse the
    dataset now (an open one, or a conditional one under an active grant)."""
    return {"notebook_usable": notebook_usable}


def notebook_usable(slug: str) -> bool:
    actor = current_actor()
    if actor.is_anonymous:
        return False
    try:
        usable_datasets(get_session(), actor, [slug])
    except PortalError:
        return False
    return True


def _limits() -> SessionLimits:
    return SessionLimits.from_config(current_app.config)


@bp.get("/")
@login_required
def sessions_page():
    """Start a session on chosen datasets; the saved sessions, newest first, to reopen."""
    db, actor = get_session(), current_actor()
    found = sessions.list_sessions(db, actor, _limits())
    choices = notebook_datasets.startable(db, actor)
    config = {"api": {"sessions": url_for("notebook_api.sessions")},
              "session_url": url_for("notebook.session_page", session_id="SESSION_ID"),
              "messages": _list_messages()}
    chosen = request.args.get("dataset") or (choices[0]["slug"] if choices and choices[0]["open_class"] == "conditional" else "")
    return render_template("notebook/sessions.html", sessions=found, choices=choices, config=config, chosen=chosen,
                           budget=found[0].budget if found else None)


@bp.get("/<session_id>")
@login_required
def session_page(session_id: str):
    db, actor = get_session(), current_actor()
    found = sessions.get_session(db, actor, session_id, _limits())
    described = notebook_datasets.describe(db, actor, found.datasets)
    examples = examples_for({d["slug"]: d["mode"] or "sdc" for d in described})
    config = {
        "session": _without_state(plain(localised(found))),
        "api": {"session": url_for("notebook_api.session", session_id=found.id),
                "runs": url_for("notebook_api.create_run", session_id=found.id),
                "run": url_for("notebook_api.run", run_id="RUN_ID"), "cells": url_for("notebook.budget", session_id=found.id)},
        "list_url": url_for("notebook.sessions_page"),
        "words": completion_words(described),
        "levels": notebook_datasets.declared_levels(described),
        "conditional": [d["slug"] for d in described if d["open_class"] == "conditional"],
        "examples": [{"title": str(e.title), "code": e.code, "slug": e.slug} for e in examples],
        "messages": _session_messages(),
    }
    return render_template("notebook/session.html", session=found, datasets=described, examples=examples,
                           functions=FUNCTIONS, methods=METHODS, config=config)


@bp.get("/<session_id>/export.py")
@login_required
def export(session_id: str):
    """The session's cells as one `.py` file for `kaifang offline-run` (portal/notebook/export.py)."""
    db, actor = get_session(), current_actor()
    found = sessions.get_session(db, actor, session_id, _limits())
    described = {d["slug"]: d for d in notebook_datasets.describe(db, actor, found.datasets)}
    exported = [ExportedDataset(slug, described[slug]["open_class"] if slug in described else "open",
                                described[slug]["version"] if slug in described else None)
                for slug in found.datasets]
    cells = [ExportedCell(run.code, _cell_status(run)) for run in sorted(found.runs, key=lambda r: r.index)]
    source = notebook_source(session_id=found.id, datasets=exported, cells=cells, exported_at=utcnow())
    return Response(source, mimetype="text/x-python",
                    headers={"Content-Disposition": f'attachment; filename="{filename(found.id)}"'})


@bp.get("/<session_id>/budget")
@login_required
def budget(session_id: str):
    """What is left today of the cell budgets of the session's grants, and the per-run query cap."""
    db, actor = get_session(), current_actor()
    found = sessions.get_session(db, actor, session_id, _limits())
    return jsonify(notebook_datasets.budgets(db, actor, found.datasets, _limits().epsilon))


def _without_state(session: dict) -> dict:
    """The session for the page: each run's result without the variables it kept (up to the
    state cap per run, and nothing the page shows)."""
    for run in session["runs"]:
        if run.get("result"):
            run["result"] = {k: v for k, v in run["result"].items() if k != "state"}
    return session


def _cell_status(run) -> str:
    if run.status == "done" and run.result:
        return str(run.result.get("status", "error"))
    return run.status


def _list_messages() -> dict[str, str]:
    return {
        "Choose at least one dataset.": _("Choose at least one dataset."),
        "The server answered": _("The server answered"),
        "Opening…": _("Opening…"),
    }


def _session_messages() -> dict[str, str]:
    """Every string notebook.js shows, in the page's language (keys are the English msgids)."""
    texts = {
        "The server answered": _("The server answered"),
        # a session's status: "open" has its own context, the open-data badge is another word in zh
        "status:open": pgettext("session status", "open"), "status:closed": _("closed"),
        "status:expired": _("expired"),
        "of": _("of"),
        # the budget row: its label by the grants' modes, then each grant's figure written once
        "budget:cells": _("Released cells left today"), "budget:epsilon": _("ε left today"),
        "budget:mixed": _("Disclosure budget left today"), "unit:cells": _("cells"),
        "{left} of {total}": _("{left} of {total}"),
        "{left} of {total} over the grant's life": _("{left} of {total} over the grant's life"),
        "No conditional dataset: no cell budget applies.": _("No conditional dataset: no cell budget applies."),
        "Cell": _("Cell"), "Run": _("Run"), "Run (Ctrl+Enter)": _("Run (Ctrl+Enter)"),
        "Delete cell": _("Delete cell"), "Code of cell": _("Code of cell"),
        "Python: dataset(\"...\").group_by(...).agg(count()) — Ctrl+Enter runs the cell":
            _("Python: dataset(\"...\").group_by(...).agg(count()) — Ctrl+Enter runs the cell"),
        "Delete this cell? It leaves the session in every browser and the export; its run stays in the "
        "stewards' audit log.": _("Delete this cell? It leaves the session in every browser and the export; its run "
                                  "stays in the stewards' audit log."),
        "queued": _("queued"), "running": _("running"), "not run": _("not run"), "failed": _("failed"),
        "The run failed before it produced a result.": _("The run failed before it produced a result."),
        "result:ok": _("done"), "result:error": _("error"), "result:timeout": _("timed out"),
        "result:killed": _("stopped"), "result:refused": _("refused"),
        "line": _("line"), "Query": _("Query"), "refused": _("refused"),
        "Variables for the next cells:": _("Variables for the next cells:"),
        "CPU": _("CPU"), "wall clock": _("wall clock"), "spent today": _("spent today"),
        "spent over the grant's life": _("spent over the grant's life"),
        "run finished": _("run finished"),  # the sandbox's message of a run that went well
        # the cell's footer; `{n}` is filled in by the page, the form chosen by n (English: 1 or more)
        "released:one": ngettext("{n} query released", "{n} queries released", 1),
        "released:other": ngettext("{n} query released", "{n} queries released", 2),
        "{n} refused": _("{n} refused"),
        "Disclosure control applied to this cell's results:": _("Disclosure control applied to this cell's results:"),
        "rows": _("rows"), "first": _("first"), "released under the rules": _("released under the rules"),
        "suppressed": _("suppressed"), "Suppressed": _("Suppressed"), "Released": _("Released"),
        "Not listed (fewer than about the minimum of records, or none: by design the two look alike)":
            _("Not listed (fewer than about the minimum of records, or none: by design the two look alike)"),
        "Chart of released values": _("Chart of released values"), "Chart": _("Chart"),
        "The chart could not be drawn": _("The chart could not be drawn"),
        "Close this session? Its cells stay saved and can be exported, but no more runs.":
            _("Close this session? Its cells stay saved and can be exported, but no more runs."),
        **_problem_messages(),
    }
    return texts


def _problem_messages() -> dict[str, str]:
    """What the page says, in its language, when the sessions service refuses a cell (a problem's
    `code`, or a run's `result.code` when it could not run); the English detail follows it."""
    return {
        "problem:no-grant": _("Your grant for this dataset was revoked or has expired: no more cells run in this "
                              "session. Renew or apply again from your applications page."),
        "problem:closed-dataset": _("This dataset is closed: it is never analysed."),
        "problem:session-expired": _("This session expired after being idle; its cells are saved. Open a new "
                                     "session to run them again."),
        "problem:session-closed": _("This session is closed; its cells are saved. Open a new session to run more."),
        "problem:code-too-large": _("This cell is too large; split it into several cells (variables carry over)."),
        "problem:cpu-budget-exhausted": _("Today's CPU seconds are used up; they renew at 00:00 UTC."),
        "problem:too-many-pending-runs": _("Too many cells of this session are waiting; wait for them to finish."),
        "problem:too-many-sessions": _("You have as many open sessions as allowed; close one first."),
        "problem:run-pending": _("This cell is still running; delete it once it has finished."),
        "problem:account-inactive": _("Your account is no longer active."),
        "problem:sandbox-failed": _("The sandbox failed to run this cell."),
        "problem:worker-lost": _("The worker running this cell stopped; run it again."),
    }
