"""How much disclosure control costs analysts: released aggregates against the truth, by cell size.

    .venv/bin/python bench/disclosure_utility.py                 # both modes, side by side
    .venv/bin/python bench/disclosure_utility.py --mode sdc      # one mode's table
    .venv/bin/python bench/disclosure_utility.py --epsilon 0.5 --out utility.md

Loads the two bundled conditional datasets into a temporary instance, grants analysts a large
budget (one grant in the "sdc" mode, one in the "dp" ε-budget mode, spending `--epsilon` per
query), and runs counts and means by one and two keys (whole table and filtered subsets, so
cells range from a handful of records to tens of thousands) through `submit_run` — the sandbox,
broker, policy and output rules exactly as the portal runs them. Each released cell is compared
with the true value that DuckDB computes on the raw CSV; in the dp mode, also whether the
released 95 % interval holds it. The tables go under "Utility" in docs/disclosure.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from sqlalchemy import select  # noqa: E402

from portal import create_app, prepare_instance  # noqa: E402
from portal.access.service import grant_access  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.analysis.keys import create_key_file  # noqa: E402
from portal.analysis.runtime import AnalysisSettings  # noqa: E402
from portal.analysis.service import submit_run  # noqa: E402
from portal.auth import SYSTEM, Actor  # noqa: E402
from portal.catalog import publishing  # noqa: E402
from portal.catalog.disclosure_settings import EpsilonDefaults  # noqa: E402
from portal.db import session_scope  # noqa: E402

ANALYSTS = {"sdc": "utility-bench@example.org", "dp": "utility-bench-dp@example.org"}
MODES = tuple(ANALYSTS)
BINS = ((1, 9, "< 10"), (10, 19, "10–19"), (20, 49, "20–49"), (50, 99, "50–99"), (100, 999, "100–999"),
        (1000, 10**12, "1000+"))
PER_RUN = 5  # queries per run: under the 64 KB output cap and the 10 s wall clock, even on a busy machine


@dataclass(frozen=True)
class Subject:
    """One conditional dataset and the queries run on it: (equality filters, group keys)."""

    slug: str
    measure: str
    queries: tuple[tuple[dict[str, str], tuple[str, ...]], ...]


def _clinic() -> Subject:
    one = [({}, (k,)) for k in ("district", "age_band", "sex", "visit_type", "diagnosis_group", "insurance_type")]
    two = [({}, k) for k in (("visit_type", "insurance_type"), ("sex", "age_band"), ("age_band", "visit_type"),
                             ("district", "sex"))]
    districts = ("和平区", "河东区", "红桥区", "宁河区", "蓟州区", "滨海新区")
    small = [({"district": d}, ("age_band", "sex")) for d in districts]
    small += [({"district": d, "visit_type": "急诊"}, ("diagnosis_group",)) for d in districts]
    small += [({"district": d, "visit_type": "住院"}, ("department",)) for d in districts]
    return Subject("clinic-visits-synthetic", "cost", tuple(one + two + small))


def _households() -> Subject:
    one = [({}, (k,)) for k in ("district", "urban_rural", "household_size", "head_sex", "head_age_band",
                                "head_education", "housing_tenure", "has_vehicle")]
    two = [({}, k) for k in (("district", "urban_rural"), ("head_education", "head_sex"),
                             ("head_age_band", "housing_tenure"))]
    districts = ("和平区", "河北区", "西青区", "宝坻区", "静海区", "滨海新区")
    small = [({"district": d}, ("head_education", "urban_rural")) for d in districts]
    small += [({"district": d}, ("head_age_band", "head_sex")) for d in districts]
    small += [({"district": d, "urban_rural": "乡村"}, ("housing_tenure", "has_vehicle")) for d in districts]
    return Subject("household-income-survey-synthetic", "annual_income", tuple(one + two + small))


def _code(subject: Subject, queries) -> str:
    """Analyst code that prints every query's released rows as one JSON list."""
    return (f"import json\nd = dataset({subject.slug!r})\nout = []\n"
            f"for filters, keys in {[[f, list(k)] for f, k in queries]!r}:\n"
            "    t = d\n"
            "    for name, value in filters.items():\n"
            "        t = t.filter(col(name) == value)\n"
            f"    t = t.group_by(*keys).agg(count().alias('n'), mean({subject.measure!r}).alias('m')).collect()\n"
            "    out.append([list(r) for r in t.rows])\n"
            "print(json.dumps(out, ensure_ascii=False))\n")


def released(app, subject: Subject, mode: str, epsilon: float) -> list[list[list]]:
    """Every query's released rows, through `submit_run` as the mode's analyst."""
    answers: list = []
    with app.app_context(), session_scope(app) as session:
        user = session.scalar(select(User).where(User.email == ANALYSTS[mode]))
        actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
        for start in range(0, len(subject.queries), PER_RUN):
            code = _code(subject, subject.queries[start:start + PER_RUN])
            outcome = submit_run(session, actor, code=code, datasets=[subject.slug],
                                 settings=replace(AnalysisSettings.from_config(app.config),
                                                  epsilon=EpsilonDefaults(daily=1e9, per_query=epsilon)))
            if outcome.result["status"] != "ok":
                raise SystemExit(f"run failed: {json.dumps(outcome.result, ensure_ascii=False)[:2000]}")
            answers += json.loads(outcome.result["stdout"].strip().splitlines()[-1])
    return answers


def truth(subject: Subject, filters: dict[str, str], keys: tuple[str, ...]) -> dict[tuple, tuple]:
    """True (count, mean, max share of one record in the cell's total) per group, from the raw CSV."""
    path = next((ROOT / "datasets" / subject.slug).glob("*.csv*"))
    where = " AND ".join(f"{name} = ?" for name in filters) or "true"
    group = ", ".join(keys)
    sql = (f"SELECT {group}, count(*), avg({subject.measure}) FROM read_csv(?) WHERE {where} GROUP BY ALL")
    rows = duckdb.execute(sql, [str(path), *filters.values()]).fetchall()
    return {tuple(_plain(v) for v in r[:len(keys)]): (r[-2], r[-1]) for r in rows}


def _plain(value):
    return value if isinstance(value, str | int | float) or value is None else str(value)


def compare(subject: Subject, answers: list) -> list[dict]:
    """One record per true cell: its size, and the relative errors of what was released."""
    cells = []
    for (filters, keys), rows in zip(subject.queries, answers, strict=True):
        shown = {tuple(_plain(v) for v in r[:len(keys)]): r[len(keys):] for r in rows}
        for key, (n, mean) in truth(subject, filters, keys).items():
            got = shown.get(key)
            cell = {"size": n, "count_error": None, "mean_error": None, "group_suppressed": got is None,
                    "mean_withheld": got is not None and got[1] is None, "covered": None}
            if got is not None:
                cell["count_error"] = abs(got[0] - n) / n
                if got[1] is not None:
                    cell["mean_error"] = abs(got[1] - mean) / abs(mean)
                if len(got) == 6:  # the dp mode's intervals: n_low, n_high, m_low, m_high
                    cell["covered"] = (got[2] <= n <= got[3], got[4] <= mean <= got[5])
            cells.append(cell)
    return cells


def side_by_side(by_mode: dict[str, list[dict]]) -> str:
    """Both modes in one table: relative errors by cell size, then what each mode hides or covers."""
    lines = ["| records in cell | cells | count error, sdc | count error, dp | mean error, sdc | mean error, dp "
             "| groups suppressed, sdc | 95 % interval holds the truth, dp (count / mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for low, high, label in BINS:
        part = {mode: [c for c in cells if low <= c["size"] <= high] for mode, cells in by_mode.items()}
        if not part["sdc"]:
            continue
        errors = {(m, k): [c[k] for c in part[m] if c[k] is not None] for m in MODES
                  for k in ("count_error", "mean_error")}
        covered = [c["covered"] for c in part["dp"] if c["covered"] is not None]
        lines.append(f"| {label} | {len(part['sdc'])} | {_pair(errors['sdc', 'count_error'])} "
                     f"| {_pair(errors['dp', 'count_error'])} | {_pair(errors['sdc', 'mean_error'])} "
                     f"| {_pair(errors['dp', 'mean_error'])} "
                     f"| {_share(sum(c['group_suppressed'] for c in part['sdc']), len(part['sdc']))} "
                     f"| {_share(sum(c[0] for c in covered), len(covered))} / "
                     f"{_share(sum(c[1] for c in covered), len(covered))} |")
    return "\n".join(lines)


def table(cells: list[dict]) -> str:
    """The markdown table of relative error by cell size."""
    lines = ["| records in cell | cells | count error median / max | mean error median / max "
             "| groups suppressed | means withheld |",
             "|---|---|---|---|---|---|"]
    for low, high, label in BINS:
        part = [c for c in cells if low <= c["size"] <= high]
        if not part:
            continue
        counts = [c["count_error"] for c in part if c["count_error"] is not None]
        means = [c["mean_error"] for c in part if c["mean_error"] is not None]
        shown = [c for c in part if not c["group_suppressed"]]
        lines.append(f"| {label} | {len(part)} | {_pair(counts)} | {_pair(means)} "
                     f"| {_share(sum(c['group_suppressed'] for c in part), len(part))} "
                     f"| {_share(sum(c['mean_withheld'] for c in shown), len(shown))} |")
    return "\n".join(lines)


def _pair(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):.2%} / {max(values):.2%}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def instance(root: Path, slugs: tuple[str, ...]):
    """A temporary portal instance with `slugs` loaded and an analyst with large grants."""
    app = create_app({"TESTING": True, "SECRET_KEY": "utility-bench-secret"}, instance=root / "instance")
    prepare_instance(app)
    create_key_file(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        for slug in slugs:
            publishing.load_package(session, SYSTEM, ROOT / "datasets" / slug, data_dir=Path(app.config["DATA_DIR"]))
        for mode, email in ANALYSTS.items():
            accounts.create_user(session, SYSTEM, email=email, password="utility-bench-password", role="developer")
            for slug in slugs:
                grant_access(session, SYSTEM, email=email, slug=slug, days=1, purpose="utility benchmark",
                             daily_cell_budget=10**9, disclosure_mode=mode, daily_epsilon=1e9)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both", help="which disclosure mode to measure")
    parser.add_argument("--epsilon", type=float, default=1.0, help="ε per query in the dp mode")
    options = parser.parse_args()
    subjects = (_clinic(), _households())
    modes = MODES if options.mode == "both" else (options.mode,)
    with tempfile.TemporaryDirectory() as scratch:
        app = instance(Path(scratch), tuple(s.slug for s in subjects))
        by_mode = {mode: [cell for s in subjects for cell in compare(s, released(app, s, mode, options.epsilon))]
                   for mode in modes}
    text = side_by_side(by_mode) if len(modes) == 2 else table(by_mode[modes[0]])
    print(text)
    if options.out:
        options.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
