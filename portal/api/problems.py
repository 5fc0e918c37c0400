"""The documented problem types: every `code` an API v1 response can carry, with what it means
and what to do. `/developers/problems/<code>` renders one (it is the problem's `type` URL)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.errors import N_


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    help: str


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
    ProblemType("method-not-allowed", 405, N_("Method not allowed"), N_("API v1 is read-only: use GET, HEAD or OPTIONS.")),
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
)}
