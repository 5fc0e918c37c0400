"""The public aggregates route of API v1: anyone may call it, without a key (scope `catalog:read`
for keys), rate limited with the rest of the API. The service is `portal/analysis/public.py`."""

from __future__ import annotations

from pydantic import Field

from portal.analysis import public
from portal.analysis.public import settings_and_budget
from portal.api.http import json_response
from portal.api.schemas import Query
from portal.api.spec import endpoint
from portal.auth import current_actor
from portal.catalog.service import get_dataset
from portal.db import get_session
from portal.errors import N_


class PublicAggregateQuery(Query):
    # Optional to the parser so that a missing `by` is the same `400 no-fields` as an empty one.
    by: str = Field("", max_length=200, description=N_("One or two category fields, comma-separated, e.g. `district,sex`."))
    stat: str = Field("count", max_length=10, description=N_("`count` (records per cell) or `mean` (of `measure`)."))
    measure: str | None = Field(None, max_length=100, description=N_("A non-sensitive numeric field with declared "
                                                                   "bounds; required with `stat=mean`."))



@endpoint("/datasets/<slug>/public-aggregate", tag="datasets", scope="catalog:read", query=PublicAggregateQuery,
          response=public.Answer)
def public_aggregate_api(slug: str, params: PublicAggregateQuery):
    """Counts or means of a conditional dataset by one or two category fields, for anyone.

    Answered by the sandbox broker under the same disclosure control as analysts' runs (noise,
    rounding, minimum cell, noise of sums, shared differencing memory); suppressed cells are `null`
    and `suppressed` counts them by rule. All callers share one budget of cells per dataset per
    day (`cells_left`). Problems: `400 no-fields`, `too-many-fields`, `duplicate-field`,
    `unknown-field`, `identifier-field`, `sensitive-field`, `not-a-category`, `not-a-measure`,
    `bad-stat`, `measure-required`, `measure-not-allowed`; `403 public-aggregate-closed`, `public-aggregates-off`,
    `public-aggregate-open`, `public-aggregates-off-dataset`; `public-aggregates-unavailable`; `404`; `400 refused-<rule>`;
    `429 public-budget-spent`. Each of `notes` has a stable `code` (docs/disclosure.md, "Notes"),
    its `params`, the English `text` and `message` in the request's language (Accept-Language).
    """
    question = public.Question.parse(params.by, params.stat, params.measure)
    get_dataset(get_session(), current_actor(), slug)  # an unknown dataset is a 404 on any instance
    settings, daily = settings_and_budget()
    answer = public.ask(get_session(), current_actor(), slug, question, settings, daily).localised()
    return json_response(answer, public.Answer)
