"""Which record count the catalog shows of a version (decision 0031f).

A dataset in the ε-budget mode promises differential privacy for a person (decisions 0030q,
0030t): against the adversary that mode is built for, who knows every other person, the exact
number of records says whether a patient of forty visits is in the data (it moves by forty). So
every public view of a version of such a dataset shows `row_count_approx` instead: the sum of
its sample's released counts of one column (`private_samples.approximate_records`), stored on
the version when it was published, never recomputed; None when the sample released no count (a
sample of the dictionary alone) or the version predates the figure. Datasets in the statistical
mode show the exact count, an accepted disclosure (decisions 0026b, 0028c). The publisher's own
views (load output, `kaifang versions`) and every internal use (broker, memory, store) keep it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, case, or_

from portal.catalog.disclosure_settings import mode_in_force


def approximate(open_class: str, disclosure: Mapping[str, Any] | None, sample_epsilon: float | None) -> bool:
    """Whether the catalog hides a version's exact count: its records are not public and the
    dataset is declared in the ε mode, or the version's sample was one of that mode (a version
    published in it keeps its figure if the declaration changes later)."""
    if open_class == "open":
        return False
    return mode_in_force(disclosure) == "dp" or sample_epsilon is not None


def public_records(version, dataset) -> Any:
    """SQL for the count a list sorts and sums by, as `approximate` decides: `row_count_approx`
    (NULL when there is no figure) or `row_count`. `dataset` is the `Dataset` entity or a
    subquery's columns (`.open_class`, `.disclosure`)."""
    declared_dp = dataset.disclosure["mode"].as_string() == "dp"
    hidden = and_(dataset.open_class != "open", or_(version.sample_epsilon.is_not(None), declared_dp))
    return case((hidden, version.row_count_approx), else_=version.row_count)
