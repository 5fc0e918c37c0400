"""Eighteenth red-team round (decision 0028e): the statistics of the bundled conditional
datasets, as an outsider with an ordinary approved grant, over the sessions API.

Each test is an attack; "Found" says what the attacker learnt before this round and the fix,
"Held" an angle that did not work. The truth is read from the raw file with DuckDB to pick what
the attacker is assumed to know and to judge what they learnt.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from portal.auth import SYSTEM
from portal.catalog import publishing
from portal.db import session_scope
from portal.errors import Invalid
from tests.conftest import DATASETS, make_app
from tests.integration.analysis.conftest import write_fixed_key
from tests.integration.sessions.conftest import Analyst, grant

pytest_plugins = ["tests.integration.sessions.conftest", "tests.security.disclosure_fixtures"]

SURVEY = "household-income-survey-synthetic"
WITH, WITHOUT = "survey-with-target", "survey-without-target"
# A household that reported no income and did not give its size: the only such one. Its
# presence is what the attacker wants to learn; every probe below reads other households only.
TARGET = {"household_id": "H9999999", "district": "蓟州区", "street_code": "120119001",
          "community_code": "120119001001", "urban_rural": "乡村", "household_size": "", "head_sex": "男",
          "head_age_band": "70+", "head_education": "小学及以下", "annual_income": "0",
          "housing_tenure": None, "has_vehicle": "false"}
# Small cells of other households: one street's households by the head's age band and education.
STREETS = ("120101001", "120102001", "120103001")


def _survey_copy(root, slug: str, with_target: bool, target: dict | None = None, untyped: str | None = None):
    """The bundled household survey under another name, with or without the target's record
    (`target` changes some of its values); `untyped`: a field whose type is left undeclared."""
    folder = root / slug
    shutil.copytree(DATASETS / SURVEY, folder)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    descriptor["name"] = slug
    for field in descriptor["resources"][0]["schema"]["fields"]:
        if field["name"] == untyped:
            del field["type"]
        if field["name"] == "household_size":
            # The target gave no size, so an honest dictionary of either world cannot declare it
            # `required`: since the twelfth session a load checks it (`missing-required`).
            field.get("constraints", {}).pop("required", None)
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    if with_target:
        with gzip.open(folder / "households.csv.gz", "rt", encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        header = rows[0]
        target = dict(TARGET, housing_tenure=rows[1][header.index("housing_tenure")], **(target or {}))
        rows.append([target[name] for name in header])
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        with gzip.open(folder / "households.csv.gz", "wt", encoding="utf-8", newline="") as f:
            f.write(out.getvalue())
    return folder


@pytest.fixture(scope="module")
def survey_app(tmp_path_factory):
    """An instance with two versions of the world: the survey with the target's household, and
    without it (the target is then a ghost)."""
    root = tmp_path_factory.mktemp("survey")
    app = make_app(root / "instance", RATELIMIT_ANON="100000/minute", ANALYSIS_ANSWER_QUANTUM_MS=1)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    with app.app_context(), session_scope(app) as session:
        for slug, with_target in ((WITH, True), (WITHOUT, False)):
            folder = _survey_copy(root, slug, with_target)
            publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
    return app


PROBE = """
import json
d = dataset({slug!r})
out = []
for street in {streets!r}:
    rows = (d.filter(col('street_code') == street)
             .group_by('head_age_band', 'head_education')
             .agg(count().alias('n'), sum('annual_income').alias('income'),
                  sum('household_size').alias('people'), mean('household_size').alias('size'))
             .collect().rows)
    out.extend(rows)
print(json.dumps(out))
"""


def _probe(app, slug: str) -> list[list]:
    who = Analyst(app)
    grant(app, who.email, slug=slug, cells=5000)
    session = who.open(slug)
    run = who.run(session, textwrap.dedent(PROBE.format(slug=slug, streets=list(STREETS))))
    if run["status"] not in ("done", "error"):
        run = who.finished(run["id"])
    assert run["status"] == "done", run
    assert run["result"]["status"] == "ok", run["result"]
    return json.loads(run["result"]["stdout"].strip().splitlines()[-1])


def _tells(rows: list[list]) -> dict[str, int]:
    """What the listed cells show of the version as a whole: listed cells whose income sum or
    household-size sum was withheld (a contributors draw of its own: the field may be zero or
    missing somewhere in the version), and means that are not the released sum over the released
    count (a number of values present drawn on its own: the field is missing somewhere)."""
    null_income = sum(1 for r in rows if r[3] is None)
    null_people = sum(1 for r in rows if r[4] is None)
    off_mean = sum(1 for r in rows if r[4] is not None and r[5] is not None and r[2]
                   and abs(r[5] - float(f"{r[4] / r[2]:.3g}")) > 1e-9)
    return {"listed": len(rows), "null_income": null_income, "null_people": null_people, "off_mean": off_mean}


def test_whether_a_field_may_be_zero_or_missing_is_no_fact_of_the_records(survey_app):
    """Found: an exact membership test, a few queries of 216 cells, that never ask for the target.
    Whether a sum's field "may be zero" and whether a mean's "may be missing" were read from the
    version file's statistics (Parquet min, max and null count: `store.columns_with_zero`,
    `columns_with_missing`, decisions 0027a and 0027e) — order statistics of the whole version,
    released exactly: a field never zero nor missing has its contributors test decided by the
    cell's listing and its number of values present equal to the count, a field that may be
    gets draws of their own. So the small cells of any street, listed, showed a withheld income
    sum or a mean that is not the sum over the count exactly when some household of the survey
    had no income or no size: the target, when it is the only one. Target (the survey with its
    household): withheld sums and means off in listed cells of other streets; ghost (without):
    none, ever. Fix: both are decided on the data dictionary — a field may be zero unless its
    declared bounds exclude 0 (values are clamped into them), and may be missing unless the
    dictionary declares it `required` — for the target and a ghost alike."""
    target, ghost = _tells(_probe(survey_app, WITH)), _tells(_probe(survey_app, WITHOUT))
    # Before the fix (3 queries, 648 cells each side): target {'listed': 42, 'null_income': 3,
    # 'null_people': 4, 'off_mean': 8}, ghost {'listed': 41, 'null_income': 0, 'null_people': 0,
    # 'off_mean': 0} — and the ghost's zeros are certain, the target's counts near-certain.
    assert target["listed"] > 20 and ghost["listed"] > 20, (target, ghost)
    # Household size is not declared required here (the target has none): its number of values
    # present and its contributors test are draws of their own, for both worlds alike; income is
    # declared 0..30,000,000, so it may be zero: its contributors test is a draw of its own for
    # both, whatever the data holds. Each tell is a few draws in forty cells, so one of them may
    # come out 0 on some disclosure key in either world; the attack was the ghost's *certain*
    # zeros, which no key gives now (the tells together are about twenty draws a world).
    assert sum(ghost.values()) - ghost["listed"] > 0, (target, ghost)
    assert sum(target.values()) - target["listed"] > 0, (target, ghost)


def test_the_flags_are_the_dictionary_s_for_the_target_and_a_ghost_alike(survey_app):
    """The same fix, where the broker reads it: what may be missing or zero is the same for the
    survey with and without the target's household."""
    from portal.analysis.sources import analysis_source  # noqa: PLC0415 - needs the app's session

    with survey_app.app_context(), session_scope(survey_app) as session:
        data_dir = Path(survey_app.config["DATA_DIR"])
        target, ghost = (analysis_source(session, slug, data_dir=data_dir) for slug in (WITH, WITHOUT))
        assert (target.missing, target.zero) == (ghost.missing, ghost.zero)
        assert "household_size" in target.missing and "household_size" not in target.zero
        assert "annual_income" in target.zero and "annual_income" not in target.missing


def test_a_dictionary_cannot_declare_required_a_field_the_target_left_empty(tmp_path):
    """What made round 18's flags safe — the dictionary's word — is checked at load: the survey
    with the target's household (no size) and `household_size` declared `required` is refused,
    so no version holds a gap the broker would count as a value."""
    folder = _survey_copy(tmp_path, "required-with-target", True)
    descriptor = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    for field in descriptor["resources"][0]["schema"]["fields"]:
        if field["name"] == "household_size":
            field.setdefault("constraints", {})["required"] = True
    (folder / "datapackage.json").write_text(json.dumps(descriptor, ensure_ascii=False), encoding="utf-8")
    app = make_app(tmp_path / "instance")
    with app.app_context(), session_scope(app) as session, pytest.raises(Invalid) as refused:
        publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
    assert refused.value.code == "missing-required" and "household_size" in refused.value.errors


# A household of three and a half (a joint custody, say): the only size that is not a whole number.
HALF = {"household_size": "3.5", "annual_income": "52000"}


def _untyped(app, root, slug: str, with_target: bool):
    """Load the survey with `household_size` left without a declared type; what an analyst then
    sees of it: its type in the schema (free) and whether it can be grouped by (one query)."""
    folder = _survey_copy(root, slug, with_target, HALF, untyped="household_size")
    try:
        with app.app_context(), session_scope(app) as session:
            publishing.load_package(session, SYSTEM, folder, data_dir=Path(app.config["DATA_DIR"]))
    except Invalid as refused:
        return ["not published", refused.code, sorted(refused.errors)]
    who = Analyst(app)
    grant(app, who.email, slug=slug, cells=500)
    run = who.run(who.open(slug), textwrap.dedent(f"""
        import json
        d = dataset({slug!r})
        try:
            grouped = len(d.group_by('household_size').agg(count()).collect().rows)
        except QueryRefused as refusal:
            grouped = refusal.rule
        print(json.dumps([d.schema['household_size'], grouped]))
    """))
    if run["status"] not in ("done", "error"):
        run = who.finished(run["id"])
    assert run["status"] == "done", run
    return json.loads(run["result"]["stdout"].strip().splitlines()[-1])


def test_a_conditional_field_s_type_is_declared_not_inferred_from_the_records(survey_app, tmp_path):
    """Found: an exact membership test, free (the schema costs no cell). A field of conditional
    data without a declared type had it inferred from the version's values, and the type is what
    the analyst sees and what the policy allows: an integer field with bounds spanning under 100
    values is a group key with implied levels in the ε mode, a float one is not. The survey with
    the field's type left out: without the target every size is a whole number (`integer`);
    with the target's 3.5, `float` — `d.schema`, free, exact. Fix: every field of a conditional dataset declares its type, or the
    package is refused at load — the same for the target and a ghost."""
    target = _untyped(survey_app, tmp_path, "untyped-with-target", True)
    ghost = _untyped(survey_app, tmp_path, "untyped-without-target", False)
    # Before the fix: target ['float', 7], ghost ['integer', 7] (the schema's type; cells listed).
    assert target == ghost, (target, ghost)
