"""The documented problem types: every `code` an API v1 response can carry, with what it means
and what to do. `/developers/problems/<code>` renders one (it is the problem's `type` URL).

Codes of pages that the same errors can reach are documented too: a `type` link that is a 404
helps nobody. `refused-<rule>` (a public aggregate the broker refused) has one entry per rule of
`notes.REFUSALS`, so a new rule is documented when its message is written.
tests/integration/api/test_problem_types.py finds the codes in the source and checks each."""

from __future__ import annotations

from dataclasses import dataclass

from portal.analysis.notes import REFUSALS
from portal.errors import N_


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    help: str
    rule: str | None = None  # a `refused-<rule>`'s rule; its meaning is `notes.REFUSALS[rule]`


REFUSED_HELP = N_("The broker refused the question before anything was released, by the disclosure rule the code "
                  "names (docs/disclosure.md, \"Before a query runs\"); the detail gives its precise reason. Ask "
                  "another question, for example by fewer or coarser fields, or apply for access to analyse the "
                  "dataset in the sandbox.")


PROBLEM_TYPES = {p.code: p for p in (
    ProblemType("bad-parameter", 400, N_("Bad parameter"),
                N_("A query parameter has the wrong type or is out of range (for example a page number that is not a whole number). The `errors` member names each parameter.")),
    ProblemType("unknown-parameter", 400, N_("Unknown parameter"),
                N_("The request has a parameter this endpoint does not take. Check the spelling; filters are written column__op=value.")),
    ProblemType("unknown-column", 400, N_("Unknown column"),
                N_("A filter, sort key or _fields entry names a column the dataset (or the asked version) does not have. The fields endpoint lists them.")),
    ProblemType("unknown-operator", 400, N_("Unknown operator"),
                N_("A filter uses an operator that does not exist. Operators: eq ne lt le gt ge in between contains startswith is_null.")),
    ProblemType("invalid-value", 400, N_("Invalid value"),
                N_("A filter value does not fit its column, for example text where a number or a date is expected, or between with other than two values.")),
    ProblemType("invalid-limit", 400, N_("Page size too large"),
                N_("size is larger than this portal allows. Ask for a smaller page and follow the next link.")),
    ProblemType("invalid-cursor", 400, N_("Invalid cursor"),
                N_("The cursor is not one this API gave out, or it belongs to another sort order. Start again from the first page.")),
    ProblemType("dataset-not-found", 404, N_("No such dataset"),
                N_("No dataset you may see has this name. Unpublished drafts answer the same way.")),
    ProblemType("version-not-found", 404, N_("No such version"),
                N_("The dataset has no version with this number, or no data yet. The versions endpoint lists them.")),
    ProblemType("theme-not-found", 404, N_("No such theme"), N_("No theme has this code; the themes endpoint lists them.")),
    ProblemType("department-not-found", 404, N_("No such department"),
                N_("No department has this name; the departments endpoint lists them.")),
    ProblemType("not-found", 404, N_("Not found"), N_("There is nothing at this address.")),
    ProblemType("rows-not-open", 403, N_("Rows not open"),
                N_("The dataset is conditional or closed: its rows are never served by any API or download. A conditional dataset can be analysed in the sandbox after an approved application: open the dataset's page and apply there.")),
    ProblemType("forbidden", 403, N_("Forbidden"), N_("You may not do this.")),
    ProblemType("invalid-key", 401, N_("Invalid API key"),
                N_("The key is malformed, unknown, revoked or expired, or the Authorization header uses another scheme. Make a new key on your account page.")),
    ProblemType("key-required", 401, N_("API key required"), N_("This call needs an API key; send it as Authorization: Bearer KEY or X-API-Key: KEY.")),
    ProblemType("insufficient-scope", 403, N_("Insufficient scope"),
                N_("The key does not carry the scope this endpoint needs (see the API reference); make a key with that scope.")),
    ProblemType("unauthorized", 401, N_("Sign-in required"), N_("This needs an API key or a signed-in account.")),
    ProblemType("method-not-allowed", 405, N_("Method not allowed"), N_("This endpoint does not take this method: the Allow header lists the ones it does.")),
    ProblemType("rate-limited", 429, N_("Too many requests"),
                N_("The rate limit of your address or key is used up. Wait for the seconds in Retry-After.")),
    # Applications for conditional access (issue 12, access)
    ProblemType("bad-body", 400, N_("Bad request body"),
                N_("The request body is not a JSON object of the shape this endpoint takes (see the API reference); the `errors` member names each field.")),
    ProblemType("invalid", 422, N_("Invalid input"),
                N_("The request is well-formed but some values are not acceptable, for example an application for a dataset that is not conditional. The `errors` member names each field.")),
    ProblemType("application-state", 409, N_("Not in this state"),
                N_("The application is not in a state that allows this change: only drafts are submitted, only submitted applications are decided, only approved or expired ones are renewed.")),
    ProblemType("grant-revoked", 409, N_("Grant revoked already"), N_("This grant was revoked before; nothing changed.")),
    ProblemType("internal-error", 500, N_("Internal error"),
                N_("Something went wrong on our side; the detail carries an incident id to quote when you report it.")),
    # The dataset page's chart.json and points.json (docs/charts.md).
    ProblemType("missing-measure", 400, N_("Measure needs a field"),
                N_("sum, mean, median, min and max need a numeric column as y; only count works without one.")),
    ProblemType("invalid-measure", 400, N_("Field is not numeric"),
                N_("The aggregate asked for needs a numeric column; this one holds text, dates or booleans.")),
    ProblemType("not-numeric", 400, N_("Not a numeric column"),
                N_("A scatter chart, bins or map coordinates need numeric columns.")),
    ProblemType("not-temporal", 400, N_("Not a time column"), N_("A time line needs a date, a timestamp or a year.")),
    ProblemType("map-not-found", 404, N_("No map for this dataset"),
                N_("The dataset declares no longitude and latitude fields, so it has no map.")),
    # Analysis sessions (issue 12, sessions; docs/sessions.md).
    ProblemType("session-not-found", 404, N_("No such session"),
                N_("No analysis session of yours has this id. Another person's session answers the same way.")),
    ProblemType("run-not-found", 404, N_("No such run"),
                N_("No run of yours has this id. Another person's run answers the same way.")),
    ProblemType("session-expired", 404, N_("Session expired"),
                N_("The session was idle longer than SESSION_IDLE_MINUTES and expired with its variables; its cells can still be read. Open a new session and run the cells again.")),
    ProblemType("session-closed", 409, N_("Session closed"), N_("The session was closed; open a new one.")),
    ProblemType("too-many-sessions", 409, N_("Too many open sessions"),
                N_("You have as many open sessions as SESSION_MAX_CONCURRENT allows. Close one (DELETE /api/v1/sessions/{id}) or let it expire.")),
    ProblemType("code-too-large", 413, N_("Code too large"),
                N_("A cell's code is larger than SESSION_MAX_CODE_BYTES bytes. Split it into several cells: variables carry over.")),
    ProblemType("cpu-budget-exhausted", 429, N_("Daily CPU budget used up"),
                N_("Your cells used today's SESSION_CPU_SECONDS_DAILY CPU seconds. They renew at 00:00 UTC (Retry-After says when).")),
    ProblemType("no-grant", 403, N_("No active grant"),
                N_("The dataset is conditional and you hold no approved, unexpired grant for it — none yet, or it was revoked or has expired. A revocation stops the very next cell of an open session. Apply (or renew) on the dataset's page.")),
    ProblemType("closed-dataset", 403, N_("Closed dataset"), N_("The dataset is closed: it is never analysed, by anyone.")),
    ProblemType("run-pending", 409, N_("Run not finished"),
                N_("The cell is still queued or running; it can be deleted from the notebook once it has finished.")),
    ProblemType("public-budget-spent", 429, N_("Public budget spent"),
                N_("Today's cells of public aggregates for this dataset are spent, for every caller; they renew at 00:00 UTC (Retry-After says when). Apply for access to analyse it.")),
    ProblemType("public-aggregates-unavailable", 403, N_("Public aggregates unavailable"),
                N_("This portal has no disclosure key yet, so it answers nothing about conditional data.")),
    ProblemType("applications-unavailable", 503, N_("Applications unavailable"),
                N_("This portal has no disclosure key yet, so it cannot keep applicants' identities and takes no application for conditional data.")),
    ProblemType("too-many-pending-runs", 429, N_("Too many runs waiting"),
                N_("Twenty cells of this session are waiting or running already; wait for them (GET /api/v1/runs/{id}?wait=30) before sending more.")),
    # Nothing (visible) at this address: each `NotFound` kind that a request can name.
    ProblemType("application-not-found", 404, N_("No such application"),
                N_("No application of yours has this id. Another person's application answers the same way; GET /api/v1/applications lists yours.")),
    ProblemType("grant-not-found", 404, N_("No such grant"), N_("No grant has this id.")),
    ProblemType("key-not-found", 404, N_("No such API key"),
                N_("No API key of yours starts with this prefix; your account page lists your keys.")),
    ProblemType("user-not-found", 404, N_("No such account"), N_("No account has this e-mail address.")),
    ProblemType("page-not-found", 404, N_("No such page"),
                N_("The page number is past the last page of the results. Start again from the first page.")),
    ProblemType("data-of-dataset-not-found", 404, N_("No data yet"),
                N_("The dataset is listed but no version of its data has been loaded yet, so it has no rows, downloads or charts. Try again later.")),
    ProblemType("sample-of-dataset-not-found", 404, N_("No sample"),
                N_("The dataset has no sample to download: only conditional datasets have one (invented records in the real layout, for trying code offline).")),
    ProblemType("download-format-not-found", 404, N_("No such download format"),
                N_("The dataset is not offered in this format. Formats: csv, json, ndjson, parquet, xlsx, and geojson for a dataset with declared coordinates.")),
    ProblemType("problem-type-not-found", 404, N_("No such problem type"),
                N_("No problem type has this code; the API reference lists them all.")),
    # Generic codes: an error without a code of its own, or one the web server answers itself.
    ProblemType("bad-request", 400, N_("Bad request"),
                N_("The request could not be understood, for example a body that is not valid JSON. The detail says why.")),
    ProblemType("conflict", 409, N_("Conflict"),
                N_("The resource is not in a state that allows this change; the detail says why.")),
    ProblemType("gone", 410, N_("Gone"), N_("What the request names existed but is no longer valid; the detail says why.")),
    ProblemType("too-large", 413, N_("Too large"),
                N_("The request body is larger than MAX_CONTENT_LENGTH bytes (2 MiB by default). Send less in one request.")),
    # Rows, downloads and charts: the data store's own checks (portal/store).
    ProblemType("invalid-offset", 400, N_("Invalid offset"),
                N_("An offset is negative, or is given together with a cursor. Follow the next links instead.")),
    ProblemType("no-fields", 400, N_("No fields"),
                N_("The request names no field: a public aggregate needs one or two category fields in by (e.g. by=district,sex), a page or download at least one field in _fields.")),
    ProblemType("unsupported-format", 400, N_("Unsupported format"),
                N_("Data is exported as csv, json, ndjson, parquet, xlsx or geojson; the format asked for is none of them.")),
    ProblemType("no-coordinates", 400, N_("No coordinates"),
                N_("A map or GeoJSON needs the dataset's declared longitude and latitude fields, and they must be numeric.")),
    ProblemType("bad-type", 400, N_("Wrong type"),
                N_("A value or column has the wrong type for what is done with it, for example text compared with a date, or arithmetic on text. The detail names it.")),
    ProblemType("unknown-function", 400, N_("Unknown function"),
                N_("The aggregate function asked for does not exist; the detail lists the known ones.")),
    ProblemType("invalid-quantile", 400, N_("Invalid quantile"), N_("A quantile's q must be between 0 and 1.")),
    ProblemType("duplicate-column", 400, N_("Duplicate column"),
                N_("Two output columns would have the same name. Rename one with an alias.")),
    ProblemType("unknown-dataset", 400, N_("Unknown dataset"),
                N_("An analysis plan reads a dataset that does not exist or is not part of the run.")),
    ProblemType("one-conditional-source", 400, N_("One conditional dataset"),
                N_("An analysis plan may read one conditional dataset, once: no self-joins, no two conditional datasets.")),
    ProblemType("conditional-first", 400, N_("Conditional dataset first"),
                N_("An analysis plan starts from its conditional dataset and joins open data onto it, not the other way round.")),
    # Public aggregates (GET /api/v1/datasets/{slug}/public-aggregate; docs/disclosure.md, "Public aggregates").
    ProblemType("too-many-fields", 400, N_("Too many fields"),
                N_("A public aggregate groups by one or two category fields; by names more. Ask for two at most.")),
    ProblemType("duplicate-field", 400, N_("Field named twice"), N_("by names the same field twice; name two different fields.")),
    ProblemType("unknown-field", 400, N_("Unknown field"),
                N_("by or measure names a field the dataset does not have. The fields endpoint lists them.")),
    ProblemType("identifier-field", 400, N_("Identifier field"),
                N_("The field identifies people or records (an identifier in the data dictionary): it is never grouped by or averaged. Choose another field.")),
    ProblemType("sensitive-field", 400, N_("Sensitive field"),
                N_("The field is sensitive in the data dictionary: public aggregates never group by it or average it. Apply for access to analyse it in the sandbox.")),
    ProblemType("not-a-category", 400, N_("Not a category field"),
                N_("A field in by has no declared list of values (constraints.enum in the data dictionary), so it cannot be grouped by. The fields endpoint shows which fields have levels.")),
    ProblemType("not-a-measure", 400, N_("Not a measure"),
                N_("measure must be a numeric field with declared bounds (constraints.minimum and maximum in the data dictionary) that is not sensitive.")),
    ProblemType("bad-stat", 400, N_("Unknown statistic"), N_("stat must be count (the default) or mean.")),
    ProblemType("measure-required", 400, N_("Measure required"),
                N_("stat=mean needs measure, the numeric field to average.")),
    ProblemType("measure-not-allowed", 400, N_("Measure not allowed"),
                N_("A count takes no measure: leave measure out, or ask for stat=mean to average it.")),
    ProblemType("public-aggregate-open", 403, N_("Dataset is open"),
                N_("The dataset is open: its rows and charts are public already, so it has no public aggregates. Use the rows endpoint.")),
    ProblemType("public-aggregate-closed", 403, N_("Dataset is closed"),
                N_("The dataset is closed: no aggregate of it is published, to anyone.")),
    ProblemType("public-aggregates-off-dataset", 403, N_("Public aggregates turned off"),
                N_("The publisher turned this dataset's public aggregates off. Apply for access to analyse it.")),
    ProblemType("public-aggregates-off", 403, N_("Public aggregates turned off on this portal"),
                N_("This portal publishes no public aggregates (PUBLIC_AGGREGATE_DAILY_CELLS is 0).")),
    ProblemType("refused", 400, N_("Refused by disclosure control"), REFUSED_HELP),
    # Conditional access and accounts (their pages; the same errors answer JSON when asked for it).
    ProblemType("not-grantable", 403, N_("Not grantable"),
                N_("Only conditional datasets are granted: an open one needs no grant, and a closed one is never analysed.")),
    ProblemType("sign-in-required", 403, N_("Sign-in required"), N_("Sign in (or use an API key) to run analyses.")),
    ProblemType("email-unconfirmed", 403, N_("E-mail address not confirmed"),
                N_("Confirm your e-mail address (follow the link in the message we sent) before making API keys.")),
    ProblemType("email-taken", 409, N_("E-mail address taken"),
                N_("An account with this e-mail address exists already. Sign in, or reset its password.")),
    ProblemType("bad-token", 422, N_("Invalid link"),
                N_("The confirmation or password-reset link is not valid, or it was used already. Ask for a new one.")),
    ProblemType("token-expired", 410, N_("Link expired"), N_("The confirmation or password-reset link has expired. Ask for a new one.")),
    ProblemType("key-inactive", 422, N_("Key not active"), N_("Only an active key can be rotated: this one is revoked or expired. Make a new key.")),
)}
# One page per rule the broker can refuse a public aggregate by (`Refused`: `refused-<rule>`).
PROBLEM_TYPES.update({f"refused-{rule}": ProblemType(f"refused-{rule}", 400, N_("Refused by disclosure control"),
                                                     REFUSED_HELP, rule=rule)
                      for rule in REFUSALS if "/" not in rule})
