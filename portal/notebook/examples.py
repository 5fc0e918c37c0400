"""Worked examples for the notebook, on the two bundled conditional datasets.

Each example is code an analyst can paste into a cell and run as it stands: the test
`tests/integration/notebook/test_examples.py` runs every one through `submit_run` under a grant
and offline over the sample, and checks it releases something. They show the data API's shape
on conditional data: group by keys with declared levels, aggregate, `show` and `chart` the
released values, and a fine cross-tabulation where disclosure control visibly suppresses cells.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

CLINIC = "clinic-visits-synthetic"
HOUSEHOLDS = "household-income-survey-synthetic"


@dataclass(frozen=True)
class Example:
    slug: str  # the dataset it uses (the notebook offers it when the session holds that dataset)
    key: str
    title: object  # a lazy string, in the page's language
    code: str


EXAMPLES = (
    Example(CLINIC, "clinic-by-district", _l("Visits and mean cost by district, with a chart"), '''\
visits = dataset("clinic-visits-synthetic")
by_district = (visits.group_by("district")
               .agg(count().alias("visits"), mean("cost").alias("mean_cost"))
               .sort("visits", descending=True)
               .collect())
show(by_district)
chart(by_district, x="district", y="visits", title="Visits by district, 2023")
'''),
    Example(CLINIC, "clinic-suppressed", _l("A fine cross-tabulation: small cells are suppressed"), '''\
# Inpatient stays of children by district and sex: many groups are small, so
# disclosure control leaves them out (a suppressed cell looks like an empty one).
visits = dataset("clinic-visits-synthetic")
children = visits.filter((col("age_band") == "0-14") & (col("visit_type") == "住院"))
table = children.group_by("district", "sex").agg(count().alias("stays"), mean("cost").alias("mean_cost")).collect()
show(table)
print(len(table), "of 32 district/sex groups listed")
'''),
    Example(HOUSEHOLDS, "households-income", _l("Mean income by urban/rural and education of the household head"), '''\
households = dataset("household-income-survey-synthetic")
income = (households.group_by("urban_rural", "head_education")
          .agg(count().alias("households"), mean("annual_income").alias("mean_income"))
          .collect())
show(income)
chart(income, x="head_education", y="mean_income", color="urban_rural", kind="bar",
      title="Mean annual income by education of the household head")
'''),
    Example(HOUSEHOLDS, "households-vehicles", _l("Car ownership by district (a count per group)"), '''\
households = dataset("household-income-survey-synthetic")
cars = (households.filter(col("has_vehicle") == True)
        .group_by("district").agg(count().alias("with_car")).collect())
everyone = households.group_by("district").agg(count().alias("households")).collect()
share = {row[0]: row[1] for row in everyone.rows if row[1]}
for district, with_car in cars.rows:
    if with_car is not None and district in share:
        print(district, round(100 * with_car / share[district]), "%")
chart(cars, x="district", y="with_car", title="Households with a car")
'''),
)


def examples_for(slugs: list[str] | tuple[str, ...]) -> list[Example]:
    """The examples that run on the given datasets."""
    return [e for e in EXAMPLES if e.slug in slugs]
