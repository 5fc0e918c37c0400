"""Fourteenth red-team round (decision 0027g), the public aggregates over HTTP: what the answer
says besides its table, and the "repeat is free" rule. Kept apart from
`test_redteam_round14.py` because it runs on the analysis app (tests/integration/analysis)."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.integration.analysis.conftest", "tests.security.disclosure_fixtures"]

CLINIC = "clinic-visits-synthetic"
HOUSEHOLDS = "household-income-survey-synthetic"


def _ask(public_app, slug: str, query: str) -> dict:
    response = public_app.test_client().get(f"/api/v1/datasets/{slug}/public-aggregate?{query}",
                                     environ_base={"REMOTE_ADDR": "198.51.100.14"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


QUESTIONS = [(CLINIC, "by=district,sex"), (CLINIC, "by=age_band,visit_type"), (CLINIC, "by=insurance_type"),
             (HOUSEHOLDS, "by=district,urban_rural&stat=mean&measure=household_size"),
             (HOUSEHOLDS, "by=head_education,head_sex&stat=mean&measure=household_size"),
             (HOUSEHOLDS, "by=housing_tenure")]


@pytest.mark.parametrize(("slug", "query"), QUESTIONS)
def test_nothing_besides_the_table_depends_on_the_data(public_app, slug, query):
    """Held: with two category fields, a count or a mean of a non-sensitive measure, everything
    in a public answer but the table is a function of the question and the metadata: the cells
    charged are the declared grid times its columns, the suppressed tally says no more than the
    table's nulls (an unlisted cell and a withheld mean are both a `null` in place), the notes
    are the plan's, and a repeat (in the other order of the fields) is free and the same."""
    first = _ask(public_app, slug, query)
    width = len(first["by"]) + 1
    # The app is shared by the session's tests: a question another test asked today is free.
    assert first["cells_charged"] in (0, len(first["rows"]) * width), first["cells_charged"]
    assert first["cells_left"] <= first["daily_cells"] - first["cells_charged"]
    nulls = sum(row[-1] is None for row in first["rows"])
    assert sum(first["suppressed"].values()) == nulls, (first["suppressed"], nulls)
    codes = [n["code"] for n in first["notes"]]
    expected = ["min-cell", "count-rounding"] if first["stat"] == "count" else ["min-cell", "magnitude-noise"]
    assert codes == expected, codes
    by = first["by"]
    swapped = query.replace(f"by={','.join(by)}", f"by={','.join(reversed(by))}")
    again = _ask(public_app, slug, swapped)
    assert again["cells_charged"] == 0 and again["cells_left"] == first["cells_left"]
    assert sorted(map(tuple, again["rows"]), key=repr) == sorted(
        map(tuple, [[*reversed(r[:len(by)]), *r[len(by):]] if len(by) == 2 else r for r in first["rows"]]), key=repr)
