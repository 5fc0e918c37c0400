"""Thirty-sixth red-team round (decision 0030y) over HTTP: the public aggregates of a dataset in
the ε-budget mode, asked by an anonymous visitor in two worlds a person apart.

The people of `test_person_contributions.py`: 300 known people and, in one world only, the
target — a woman of 99 in 丁区 with forty visits — the dataset naming its person (`pid`, cap 5).
Until decision 0030z public aggregates were answered in the statistical mode whatever the grants'
mode: cell-key noise and rounding to 5, calibrated for a record, no per-person cap; the public
table of district by sex moved by the target's forty visits, where an analyst's ε-mode count of
丁区's women moves by 5 at noise scale 50 (52.5 % for the best test).

Found, and fixed by decision 0030z: one anonymous question told the worlds apart (the table moved
by the target's forty visits). A dataset in the ε mode now answers its public aggregates in that
mode, calibrated for one person's records and charged to the public's ε: each statistic moves by
one person's cap at most before its noise, measured exactly (round 36's recorder). Held:
everything in the answer but the figures is the same in both worlds.
"""

from __future__ import annotations

import pytest

from tests.security.test_person_contributions import (
    CAP,
    EPSILON,
    FIELDS,
    HEADER,
    SLUG,
    TARGET,
    _known,
    world_app,
)
from tests.security.test_redteam_round36 import Queries, _moved, _within_one_person

QUESTION = "by=district,sex"


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> tuple[dict, dict]:
    disclosure = {"mode": "dp", "epsilon_per_query": EPSILON, "person": "pid", "records_per_person": CAP}
    found = []
    # The neighbouring worlds the mechanisms are calibrated for: with the target, and without.
    for name, last in (("target", TARGET), ("others", "")):
        app = world_app(tmp_path_factory.mktemp(f"public-{name}"), SLUG, HEADER + _known() + last, FIELDS,
                        disclosure, title_zh="多次就诊")
        with pytest.MonkeyPatch.context() as monkeypatch:
            recorder = Queries(monkeypatch)
            response = app.test_client().get(f"/api/v1/datasets/{SLUG}/public-aggregate?{QUESTION}",
                                             environ_base={"REMOTE_ADDR": "198.51.100.36"})
        assert response.status_code == 200, response.get_json()
        found.append((response.get_json(), recorder.queries))
    return found[0], found[1]


def _figures(answer: dict) -> dict[tuple, int | None]:
    """{group keys: figure} (the figure follows the keys; its interval's ends after it)."""
    width = len(answer["by"])
    return {tuple(row[:width]): row[width] for row in answer["rows"]}


def test_held_a_public_answer_differs_in_its_figures_only(answers):
    """Held: the rows (every declared combination, in order), the notes, the ε spent and left
    are the same in both worlds (the run's id aside)."""
    (target, _), (others, _) = answers
    assert list(_figures(target)) == list(_figures(others))
    assert {k: v for k, v in target.items() if k not in ("rows", "run_id")} == \
        {k: v for k, v in others.items() if k not in ("rows", "run_id")}


def test_found_fixed_a_public_count_moves_by_a_persons_cap_under_noise_for_it(answers):
    """Found (丁区's women were 135 with the target and 95 without: its forty visits, one
    anonymous question), fixed by 0030z: the answer is the ε mode's, and each statistic of the
    one query it makes moves by the person's `CAP` records at most before its noise, with the
    same calibration in both worlds."""
    (target, target_queries), (others, others_queries) = answers
    assert target["mode"] == others["mode"] == "dp"
    assert len(target_queries) == len(others_queries) == 1
    moved = _moved(target_queries[0], others_queries[0])
    assert moved and _within_one_person(moved), moved
