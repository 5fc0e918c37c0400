"""A person with many records in the ε-budget mode, in two worlds (decision 0030t).

World A holds the target, a woman of 99 in 丁区 with 40 visits (the only person so described);
world B holds instead 40 visits of 40 other people (the same row count). Three hundred known
people have one to three visits each. An analyst with a grant in the ε mode asks, ε 0.1 a query,
for the target's description: a count, and a grouped count, sum, mean and median of the cost.

Found: with ε calibrated for one record, the target's 40 visits moved the count by 40 at noise
scale 10 — a log-likelihood ratio of 40 × 0.1 = 4 in a single query, one noisy count told the
worlds apart nine times in ten. Now, with `person: pid` and `records_per_person: 5`, the target
moves every statistic by at most 5 records, and every mechanism is calibrated for 5 records: the
log-likelihood ratio of any released value is at most ε, and the best test of one noisy count
is right about half the time. The notes are the same in both worlds.
"""

from __future__ import annotations

import json
import math
import random
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.access.service import grant_access
from portal.accounts import service as accounts
from portal.accounts.models import User
from portal.analysis import privacy
from portal.analysis.runtime import AnalysisSettings
from portal.analysis.service import submit_run
from portal.auth import SYSTEM, Actor
from portal.db import session_scope
from tests import factories
from tests.conftest import make_app
from tests.integration.analysis.conftest import write_fixed_key

SLUG = "many-visits"
LEVELS = ["甲区", "乙区", "丙区", "丁区"]
FIELDS = [{"name": "visit_id", "type": "string"}, {"name": "pid", "type": "string"},
          {"name": "district", "type": "string", "constraints": {"enum": LEVELS}},
          {"name": "sex", "type": "string", "constraints": {"enum": ["男", "女"]}},
          {"name": "age", "type": "integer", "constraints": {"minimum": 18, "maximum": 99, "required": True}},
          {"name": "cost", "type": "integer", "constraints": {"minimum": 0, "maximum": 50000, "required": True}}]
HEADER = "visit_id,pid,district,sex,age,cost\n"
VISITS = 40
CAP = 5
EPSILON = 0.1
TARGET = "".join(f"T{i},P9999,丁区,女,99,{1000 + 700 * i}\n" for i in range(VISITS))
STANDINS = "".join(f"S{i},Q{i:03d},甲区,男,45,{500 + 10 * i}\n" for i in range(VISITS))
PROBES = """
    import json
    d = dataset("many-visits")
    one = d.filter((col("age") == 99) & (col("district") == "丁区"))
    counted = one.count()
    table = one.group_by("sex").agg(count().alias("n"), sum("cost").alias("s"), mean("cost").alias("m"),
                                    median("cost").alias("md")).collect()
    print(json.dumps([counted, table.rows]))
    """


def _known() -> str:
    rng = random.Random(30)
    rows = []
    for i in range(300):
        district, sex, age = rng.choice(LEVELS), rng.choice(["男", "女"]), rng.randint(20, 80)
        rows += [f"K{i}-{v},P{i:04d},{district},{sex},{age},{rng.randint(50, 20000)}\n" for v in range(rng.randint(1, 3))]
    return "".join(rows)


def _world(root: Path, last: str, disclosure: dict):
    return world_app(root, SLUG, HEADER + _known() + last, FIELDS, disclosure, title_zh="多次就诊")


def world_app(root: Path, slug: str, csv: str, fields: list[dict], disclosure: dict, *, title_zh: str):
    """A portal holding one conditional dataset of visits (`visit_id` and `pid` identifiers,
    `cost` sensitive) with its schema's `fields`, and an attacker's grant in its mode."""
    app = make_app(root / "instance", ANALYSIS_ANSWER_QUANTUM_MS=1)
    write_fixed_key(Path(app.config["INSTANCE_PATH"]))
    folder = factories.dataset_folder(root / "src", slug, csv=csv, open_class="conditional",
                                      title_zh=title_zh, disclosure=disclosure,
                                      fields={"visit_id": {"description_zh": "就诊", "identifier": True},
                                              "pid": {"description_zh": "编号", "identifier": True},
                                              "cost": {"description_zh": "费用", "sensitive": True}})
    doc = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    doc["resources"][0]["schema"]["fields"] = fields
    (folder / "datapackage.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    factories.load(app, folder)
    with app.app_context(), session_scope(app) as session:
        accounts.create_user(session, SYSTEM, email="attacker@example.org", password="attacker-password", role="developer")
        grant_access(session, SYSTEM, email="attacker@example.org", slug=slug, days=1, purpose="two worlds",
                     daily_epsilon=10.0)
    return app


class Recorder:
    """Every statistic as it reaches its mechanism (before noise) and its calibration."""

    def __init__(self, monkeypatch):
        self.seen: list[tuple[str, object, int, float]] = []
        for name in ("release_count", "release_sum", "release_mean", "release_quantile"):
            monkeypatch.setattr(privacy, name, self._wrap(name, getattr(privacy, name)))

    def _wrap(self, name, original):
        def release(*args, **kwargs):
            noisy = original(*args, **kwargs)
            inside = len(args[0]) if name == "release_quantile" else args[0]
            self.seen.append((name, inside, kwargs.get("per_person", 1), noisy.scale))
            return noisy
        return release


def _attack(app, monkeypatch) -> tuple[list, dict, list]:
    recorder = Recorder(monkeypatch)
    with app.app_context(), session_scope(app) as session:
        user = session.scalar(select(User).where(User.email == "attacker@example.org"))
        actor = Actor(user_id=user.id, role=user.role, department_id=user.department_id, email=user.email)
        result = submit_run(session, actor, code=textwrap.dedent(PROBES), datasets=[SLUG],
                            settings=AnalysisSettings.from_config(app.config)).result
    monkeypatch.undo()
    assert result["status"] == "ok", result
    notes = [[(n["code"], _masked(n["params"])) for n in answer["notes"] if n["code"] != "epsilon-spent"]
             for answer in result["released"]]
    return recorder.seen, notes, json.loads(result["stdout"].strip().splitlines()[-1])


def _masked(params: dict) -> dict:
    """A count's note holds its interval, the released value plus or minus a width: the width stays."""
    if "low" in params and "high" in params:
        return {**params, "low": None, "high": float(params["high"]) - float(params["low"])}
    return params


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    capped = {"mode": "dp", "epsilon_per_query": EPSILON, "person": "pid", "records_per_person": CAP}
    uncapped = {"mode": "dp", "epsilon_per_query": EPSILON}
    return {(name, world): _world(tmp_path_factory.mktemp(f"{name}-{world}"), last, disclosure)
            for name, disclosure in (("capped", capped), ("uncapped", uncapped))
            for world, last in (("A", TARGET), ("B", STANDINS))}


def _both(worlds, name):
    with pytest.MonkeyPatch.context() as monkeypatch:
        a = _attack(worlds[name, "A"], monkeypatch)
    with pytest.MonkeyPatch.context() as monkeypatch:
        b = _attack(worlds[name, "B"], monkeypatch)
    return a, b


def _best_test_accuracy(a: int, b: int, per_person: int, draws: int = 3000) -> float:
    """How often the midpoint threshold — the most powerful test between two shifted discrete
    Laplace distributions — names the world of one noisy count, by OpenDP's own sampler."""
    threshold = (a + b) / 2
    right = sum(privacy.release_count(a, EPSILON, per_person=per_person).value > threshold for _ in range(draws))
    right += sum(privacy.release_count(b, EPSILON, per_person=per_person).value <= threshold for _ in range(draws))
    return right / (2 * draws)


def test_found_one_record_calibration_let_forty_visits_tell_the_worlds_apart(worlds):
    (seen_a, _, _), (seen_b, _, _) = _both(worlds, "uncapped")
    (_, a, per_person, scale), (_, b, _, _) = seen_a[0], seen_b[0]
    assert (a, b, per_person, scale) == (VISITS, 0, 1, pytest.approx(1 / EPSILON))
    assert abs(a - b) / scale == pytest.approx(VISITS * EPSILON), "a likelihood ratio of e^4 in one count"
    assert _best_test_accuracy(a, b, per_person) > 0.88, "about 93 %"


def test_held_the_target_moves_every_statistic_by_the_cap_at_most_and_the_noise_is_the_caps(worlds):
    (seen_a, notes_a, _), (seen_b, notes_b, _) = _both(worlds, "capped")
    assert [s[0] for s in seen_a] == [s[0] for s in seen_b]
    assert len(seen_a) == 1 + 2 * 6, "the count, then per sex a count, a sum, a mean (its sum, count, ratio), a median"
    for (name, a, per_person, scale), (_, b, per_person_b, scale_b) in zip(seen_a, seen_b, strict=True):
        assert per_person == per_person_b == CAP and scale == scale_b, name
        if name == "release_count":
            assert abs(a - b) <= CAP and abs(a - b) / scale <= EPSILON * (1 + 1e-9)
        elif name == "release_quantile":
            assert abs(a - b) <= CAP, "the values a median chooses among: at most 5 of the target's"
        else:
            assert abs(a - b) <= CAP * 50_000, "a sum moves by at most 5 clamped costs"
    counts = [(a[1], b[1]) for a, b in zip(seen_a, seen_b, strict=True) if a[0] == "release_count"]
    assert counts[0] == (CAP, 0), "the target's 40 visits, counted as 5"
    assert notes_a == notes_b, "scales and notes from the dictionary alone"
    assert ("dp-person", {"field": "pid", "cap": str(CAP)}) in notes_a[0]
    accuracy = _best_test_accuracy(*counts[0], per_person=CAP)
    assert accuracy < 0.5 + 0.06, "e^0.1 / (1 + e^0.1) = 52.5 % at best"
    assert math.exp(EPSILON) / (1 + math.exp(EPSILON)) < 0.53
