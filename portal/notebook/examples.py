"""Worked examples for the notebook, on the two bundled conditional datasets.

Each example is code an analyst can paste into a cell and run as it stands: the test
`tests/integration/analysis/test_notebook_examples.py` runs every one through `submit_run` under
a grant in each mode it is offered in, and offline over the sample, and checks it releases
something. They show the data API's shape on conditional data: group by keys with declared
levels, aggregate, `show` and `chart` the released values; in the statistical mode a fine
cross-tabulation where disclosure control visibly suppresses cells, in the ε-budget mode a
median with its noise (the mode decides what a statistic can be: docs/disclosure.md).
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
    modes: tuple[str, ...] = ("sdc", "dp")  # the disclosure modes of a grant it runs and makes sense in


EXAMPLES = (
    Example(CLINIC, "clinic-by-district", _l("Visits and mean cost by district, with a chart"), '''\
visits = dataset("clinic-visits-synthetic")
by_district = (visits.group_by("district")
               .agg(count().alias("visits"), mean("cost").alias("mean_cost"))
               .sort("visits", descending=True)
               .collect())
show(by_district)
chart(by_district, x="district", y="visits", title="Visits by district, 2023")
''', modes=("sdc",)),  # in the ε-budget mode a mean of costs up to 3,000,000 is mostly noise: the next one
    Example(CLINIC, "clinic-by-district-dp", _l("Visits by district, with the noise of each count and a chart"), '''\
# In the ε-budget mode each count comes with a 95 % interval of its noise
# (visits_low, visits_high). Money is summarised by its median (the next example):
# a mean of costs that may reach 3,000,000 carries noise scaled to that bound.
visits = dataset("clinic-visits-synthetic")
by_district = (visits.group_by("district")
               .agg(count().alias("visits"))
               .sort("visits", descending=True)
               .collect())
show(by_district)
chart(by_district, x="district", y="visits", title="Visits by district, 2023")
''', modes=("dp",)),
    Example(CLINIC, "clinic-suppressed", _l("A fine cross-tabulation: small cells are suppressed"), '''\
# Inpatient stays of children by district and sex: many groups are small, so
# disclosure control leaves them out (a suppressed cell looks like an empty one).
visits = dataset("clinic-visits-synthetic")
children = visits.filter((col("age_band") == "0-14") & (col("visit_type") == "住院"))
table = children.group_by("district", "sex").agg(count().alias("stays"), mean("cost").alias("mean_cost")).collect()
show(table)
print(len(table), "of 32 district/sex groups listed")
''', modes=("sdc",)),
    Example(CLINIC, "clinic-median-cost", _l("Median cost by age band, with the noise of each count"), '''\
# In the ε-budget mode every group is listed, empty ones too, and each count comes with
# a 95 % interval of its noise (visits_low, visits_high); this query spends one query's ε.
# A patient counts with at most 5 of their visits here (the notes say so), so the noise
# protects a patient, not one visit, and patients with many visits count low.
visits = dataset("clinic-visits-synthetic")
by_age = (visits.group_by("age_band")
          .agg(count().alias("visits"), median("cost").alias("median_cost"))
          .collect())
show(by_age)
chart(by_age, x="age_band", y="median_cost", title="Median cost of a visit by age band")
''', modes=("dp",)),
    Example(HOUSEHOLDS, "households-income", _l("Mean income by urban/rural and education of the household head"), '''\
households = dataset("household-income-survey-synthetic")
income = (households.group_by("urban_rural", "head_education")
          .agg(count().alias("households"), mean("annual_income").alias("mean_income"))
          .collect())
show(income)
chart(income, x="head_education", y="mean_income", color="urban_rural", kind="bar",
      title="Mean annual income by education of the household head")
''', modes=("sdc",)),  # the ε-budget mode's statistic for money is the median (the last example)
    Example(HOUSEHOLDS, "households-vehicles", _l("Car ownership by district (a count per group)"), '''\
households = dataset("household-income-survey-synthetic")
cars = (households.filter(col("has_vehicle") == True)
        .group_by("district").agg(count().alias("with_car")).collect())
everyone = households.group_by("district").agg(count().alias("households")).collect()
share = {row[0]: row[1] for row in everyone.rows if row[1]}
for row in cars.rows:  # in the ε-budget mode each count is followed by its interval
    district, with_car = row[0], row[1]
    if with_car is not None and district in share:
        print(district, round(100 * with_car / share[district]), "%")
chart(cars, x="district", y="with_car", title="Households with a car")
''', modes=("sdc",)),  # a ratio of two noisy counts of small districts says little in the ε-budget mode
    Example(HOUSEHOLDS, "households-median-income", _l("Median income in town and country, with the noise of each count"), '''\
# The ε-budget mode's statistic for money is the median: it needs few records per rank,
# while a mean of incomes clamped at 1,000,000 carries noise scaled to that bound.
households = dataset("household-income-survey-synthetic")
medians = (households.group_by("urban_rural")
           .agg(count().alias("households"), median("annual_income").alias("median_income"))
           .collect())
show(medians)
chart(medians, x="urban_rural", y="median_income", kind="bar", title="Median annual household income")
''', modes=("dp",)),
)


def examples_for(modes: dict[str, str]) -> list[Example]:
    """The examples that run on the given datasets, by the mode each is in (`{slug: "sdc"|"dp"}`)."""
    return [e for e in EXAMPLES if e.slug in modes and modes[e.slug] in e.modes]
