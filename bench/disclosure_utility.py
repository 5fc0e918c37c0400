"""How much disclosure control costs analysts: released aggregates against the truth, by cell size.

    .venv/bin/python bench/disclosure_utility.py            # prints the markdown table
    .venv/bin/python bench/disclosure_utility.py --out utility.md

Loads the two bundled conditional datasets into a temporary instance, grants an analyst a large
cell budget, and runs counts and means by one and two keys (whole table and filtered subsets, so
cells range from a handful of records to tens of thousands) through `submit_run` — the sandbox,
broker, policy and output rules exactly as the portal runs them. Each released cell is compared
with the true value that DuckDB computes on the raw CSV. The table goes under "Utility" in
docs/disclosure.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
from sqlalchemy import select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.access.service import grant_access  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.accounts.models import User  # noqa: E402
from portal.analysis.keys import create_key_file  # noqa: E402
from portal.analysis.runtime import AnalysisSettings  # noqa: E402
from portal.analysis.service import submit_run  # noqa: E402
from portal.auth import SYSTEM, Actor  # noqa: E402
from portal.catalog import publishing  # noqa: E402
from portal.catalog.setup import prepare_instance  # noqa: E402
from portal.db import session_scope  # noqa: E402

ANALYST = "utility-bench@example.org"
BINS = ((1, 9, "< 10"), (10, 19, "10–19"), (20, 49, "20–49"), (50, 99, "50–99"), (100, 999, "100–999"),
        (1000, 10**12, "1000+"))
PER_RUN = 25  # queries per run: keeps each run's printed answers under the 64 KB output cap


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


def released(app, subject: Subject) -> list[list[list]]:
    """Every query's released rows, through `submit_run` as the analyst."""
    answers: list = []
    with app.app_context(), session_scope(app) as session:
        user = session.scalar(select(User).where(User.email == ANALYST))
        actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
        for start in range(0, len(subject.queries), PER_RUN):
            code = _code(subject, subject.queries[start:start + PER_RUN])
            outcome = submit_run(session, actor, code=code, datasets=[subject.slug],
                                 settings=AnalysisSettings.from_config(app.config))
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
                    "mean_withheld": got is not None and got[1] is None}
            if got is not None:
                cell["count_error"] = abs(got[0] - n) / n
                if got[1] is not None:
                    cell["mean_error"] = abs(got[1] - mean) / abs(mean)
            cells.append(cell)
    return cells


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
        accounts.create_user(session, SYSTEM, email=ANALYST, password="utility-bench-password", role="developer")
        for slug in slugs:
            grant_access(session, SYSTEM, email=ANALYST, slug=slug, days=1, purpose="utility benchmark",
                         daily_cell_budget=10**9)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    options = parser.parse_args()
    subjects = (_clinic(), _households())
    with tempfile.TemporaryDirectory() as scratch:
        app = instance(Path(scratch), tuple(s.slug for s in subjects))
        cells = [cell for s in subjects for cell in compare(s, released(app, s))]
    text = table(cells)
    print(text)
    if options.out:
        options.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
