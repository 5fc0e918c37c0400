"""Every setting of the portal, declared once, and the one place that reads the environment.

Load order (see `load_config`): declared defaults, then the instance's `kaifang.cfg` (or the file
named by `KAIFANG_SETTINGS`), then `KAIFANG_*` environment variables, then `test_config`. Nothing
reads configuration at import time, so tests and the CLI can build apps with other settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SECRET = "dev-insecure-change-me"  # noqa: S105 - refused outside debug/testing


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SECRET_KEY", str, DEFAULT_SECRET, "Signs sessions and CSRF tokens. Required in production."),
    Setting("DATABASE_URL", str, "", "SQLAlchemy URL of the metadata database; empty means SQLite in the instance folder."),
    Setting("DATA_DIR", str, "", "Folder of the Parquet version files; empty means `<instance>/data`."),
    Setting("SEARCH_DIR", str, "", "Folder of the Whoosh index; empty means `<instance>/search`."),
    Setting("DATASETS_DIR", str, "", "Bundled datasets loaded by `kaifang serve --load-bundled`; empty means `./datasets`."),
    Setting("RATELIMIT_STORAGE_URI", str, "memory://", "Flask-Limiter storage; `redis://127.0.0.1:6379/0` in production so workers share counts."),
    Setting("RATELIMIT_KEY_PREFIX", str, "kaifang", "Prefix of rate-limit keys, so several portals can share one Redis."),
    Setting("RATELIMIT_ANON", str, "60/minute", "Default limit for anonymous clients, keyed by address."),
    Setting("PREVIEW_PAGE_SIZE", int, 25, "Rows per page of the dataset preview."),
    Setting("EXPORT_CACHE_AFTER_LOAD", bool, True, "After publishing, `kaifang load` starts `kaifang export-cache` in the background (niced) so download files are ready before the first visitor."),
    Setting("PREVIEW_MAX_PAGE_SIZE", int, 500, "Largest page size a client may ask for; larger values are clamped."),
    Setting("LIST_PAGE_SIZE", int, 20, "Datasets per page of the dataset list."),
    Setting("DEFAULT_LOCALE", str, "zh_CN", "Locale of pages when the visitor has not chosen one."),
    Setting("DEBUG", bool, False, "Flask debug mode; never in production."),
    Setting("TESTING", bool, False, "Set by the test suite."),
    Setting("ANALYSIS_ANSWER_QUANTUM_MS", int, 20, "Answers about conditional data leave the broker at a multiple of "
            "this many milliseconds, so their timing does not depend on the records; 0 turns padding off."),
    Setting("DP_DAILY_EPSILON", float, 1.0, "ε an account may spend per day on a dataset in the differential-privacy mode, under all its grants on it, unless the dataset or grant says otherwise."),
    Setting("DP_LIFETIME_DAYS", float, 10.0, "A grant's lifetime ε in the differential-privacy mode, as days of its daily ε, unless the dataset or grant sets `lifetime_epsilon`."),
    Setting("SDC_LIFETIME_DAYS", float, 10.0, "A grant's lifetime cells in the statistical mode, as days of its daily cell budget, unless the dataset or grant sets `lifetime_cells`."),
    Setting("DP_QUERY_EPSILON", float, 0.1, "ε one query spends in the differential-privacy mode, unless the dataset says otherwise."),
    Setting("DISCLOSURE_KEY", str, "", "Secret of cell-key noise and record keys; empty means the instance's `disclosure.key` file (made by `kaifang init`). Never derived from SECRET_KEY."),
    Setting("SANDBOX_WORKERS", int, 2, "Worker slots of the analysis sandbox pool (one run each at a time)."),
    Setting("SANDBOX_WALL_SECONDS", float, 10.0, "Wall-clock limit of one run of analyst code (its CPU limit is 3 s)."),
    Setting("SANDBOX_ALLOW_MISSING_LAYERS", str, "", "Comma-separated isolation layers analyses may run without (an explicit, logged override); empty means every layer is required."),
    Setting("ANALYSIS_DUCKDB_MEMORY", str, "1GB", "DuckDB memory_limit of the broker's confined connection, per run."),
    Setting("ANALYSIS_DUCKDB_THREADS", int, 2, "DuckDB threads of the broker's confined connection, per run."),
    Setting("DIFFERENCING_MEMORY_CELLS", int, 50000, "Cells asked of a dataset (all its versions) after which the differencing memory forgets a released cell not used since."),
    Setting("PUBLIC_AGGREGATE_DAILY_EPSILON", float, 0.5, "ε the public may spend per dataset per UTC day on public aggregates of a dataset in the ε-budget mode, shared by every caller; each new question spends the dataset's ε per query, a question asked before of the same version gets the answer kept (decision 0030z)."),
    Setting("PUBLIC_AGGREGATE_LIFETIME_EPSILON", float, 5.0, "ε the public may spend on one dataset in the ε-budget mode over all days and versions; once spent, only questions answered before are answered (decision 0030z)."),
    Setting("SAMPLE_EPSILON", float, 0.5, "ε the synthetic sample of a version of a dataset in the ε-budget mode spends, once, split evenly between its columns: each column's weights are differentially private counts with each person's records capped (decision 0031a); 0 draws every such sample from the data dictionary alone."),
    Setting("SAMPLE_LIFETIME_EPSILON", float, 2.0, "ε the synthetic samples of all versions of one dataset in the ε-budget mode may spend together (the sample's ledger, versions.sample_epsilon); a version whose sample would pass it gets a sample drawn from the data dictionary alone (decision 0031a)."),
    Setting("PUBLIC_AGGREGATE_DAILY_CELLS", int, 2000, "Cells of public aggregates (counts and means anyone may ask of a conditional dataset) charged per dataset per UTC day, shared by every caller; 0 turns them off."),
    Setting("CODE_COLUMN_WORDS", str, "", "Comma-separated words that make a column name a code column stored as text (代码, code, id, ...); empty means the built-in list in docs/store.md."),
    # Accounts, API keys, limits per key, web hardening (issue "Developer API").
    Setting("RATELIMIT_ENABLED", bool, True, "Rate limiting on; off only when a gateway in front does it (and for benchmarks)."),
    Setting("RATELIMIT_TIERS", str, "developer=600/minute;100000/day|partner=3000/minute;1000000/day|internal=30000/minute",
            "API key tiers: `name=limits` joined by `|`; each limit list in Flask-Limiter's notation."),
    Setting("RATELIMIT_DEFAULT_TIER", str, "developer", "Tier of a new API key."),
    Setting("RATELIMIT_LEASE_MAX", int, 100, "With Redis: most permits one worker draws for a caller in one round trip and spends locally (decision 0024b); 1 makes one round trip per call."),
    Setting("RATELIMIT_LEASE_SECONDS", float, 1.0, "With Redis: how long a worker spends from one lease before drawing again (how stale the usage headers may be)."),
    Setting("RATELIMIT_LEASE_WORKERS", int, 4, "With Redis: the number of worker processes expected to share a count; a lease takes at most the room left / (8 x this)."),
    Setting("RATELIMIT_LOGIN_ADDRESS", str, "10/minute;100/hour", "Sign-in and registration attempts per client address."),
    Setting("RATELIMIT_LOGIN_ACCOUNT", str, "5/minute;20/hour", "Failed sign-in attempts per account (email)."),
    Setting("RATELIMIT_MAIL", str, "5/hour", "Confirmation and reset mails one client address may ask for."),
    Setting("KEY_CACHE_SECONDS", int, 10, "How long a worker trusts a looked-up API key before reading it again (revocation delay in other workers)."),
    Setting("USAGE_FLUSH_SECONDS", int, 10, "How often each worker writes its buffered API call counts (and keys' last use) to the database."),
    Setting("MAIL_BACKEND", str, "file", "`file` writes each mail as an .eml file into MAIL_DIR; `smtp` sends it."),
    Setting("MAIL_DIR", str, "", "Folder of the `file` mail backend; empty means `<instance>/mail`."),
    Setting("MAIL_FROM", str, "Kaifang <no-reply@localhost>", "Sender of account mails."),
    Setting("MAIL_SMTP_HOST", str, "localhost", "SMTP server of the `smtp` backend."),
    Setting("MAIL_SMTP_PORT", int, 587, "SMTP port."),
    Setting("MAIL_SMTP_STARTTLS", bool, True, "Upgrade the SMTP connection with STARTTLS."),
    Setting("MAIL_SMTP_USERNAME", str, "", "SMTP user; empty means no authentication."),
    Setting("MAIL_SMTP_PASSWORD", str, "", "SMTP password."),
    Setting("CONFIRM_TOKEN_HOURS", int, 48, "How long an e-mail confirmation link stays valid."),
    Setting("RESET_TOKEN_MINUTES", int, 60, "How long a password-reset link stays valid."),
    Setting("REGISTRATION_OPEN", bool, True, "Whether visitors may register developer accounts."),
    Setting("MAX_CONTENT_LENGTH", int, 2 * 1024 * 1024, "Largest request body in bytes; larger ones answer 413."),
    Setting("PROXY_TRUSTED_HOPS", int, 0, "Number of reverse proxies in front of the portal whose X-Forwarded-For/-Proto/-Host are trusted."),
    Setting("FORCE_HTTPS", bool, False, "Redirect plain HTTP to HTTPS and send HSTS (when the portal is served over HTTPS)."),
    Setting("API_PAGE_SIZE", int, 100, "Rows per page of the row API when the client gives no `size`."),
    Setting("API_MAX_PAGE_SIZE", int, 1000, "Largest `size` of the row API; larger values are refused with a 400 problem."),
    Setting("CATALOG_CACHE_SECONDS", int, 1, "How often (seconds) a process checks the catalog generation to drop its cache of resolved datasets; 0 checks on every request."),
    Setting("API_PAGE_CACHE_MB", int, 64, "Memory (MB per process) for encoded row pages of the row API; 0 turns the cache off."),
    # Row API speed (decision 0018a): version files kept in memory as DuckDB tables.
    Setting("STORE_PROJECTIONS", int, 3, "Copies of a large version file (32 MB or more, loaded in source order) made in the background after two sorted pages filtered on a column the file does not prune: in the Z-order of the automatic clustering's keys, or ordered by the column (decision 0027c); at most this many per file, each about the file's size again on disk; 0 makes none."),
    Setting("API_RESIDENT_MB", int, 512, "Memory (MB per process) for version files held as in-memory DuckDB tables by the row API (loaded on a file's second read, with each row's JSON text when that fits too; least recently read dropped first); 0 reads Parquet every time."),
    Setting("COUNTS_FLUSH_SECONDS", int, 5, "How often (seconds) view, download and API-call counts tallied in memory are written to the database."),
    # Charts and maps of the dataset page (issue 13, items 1-2).
    Setting("CHART_MAX_CATEGORIES", int, 60, "Most bars a category chart draws; the rest are grouped as 'Others' and the chart says so."),
    Setting("CHART_MAX_POINTS", int, 600, "Most points of a time line (times are bucketed by hour, day, week, month, quarter, year or decade to fit) or of a scatter (sampled beyond)."),
    Setting("MAP_POINT_LIMIT", int, 5000, "Most points the map endpoint returns for the visible area; beyond it the server bins them into a grid of counts."),
    Setting("MAP_TILE_URL", str, "", "Background tile URL template of dataset maps (`https://tiles.example/{z}/{x}/{y}.png`); empty draws a plain graticule and loads nothing from outside. Its origin is added to the CSP's img-src."),
    Setting("MAP_TILE_ATTRIBUTION", str, "", "Attribution text shown with the configured map tiles (required by most tile licences)."),
    # Interoperability (CKAN API, DCAT, data.json): how the catalog names itself to harvesters.
    Setting("CATALOG_TITLE", str, "开放数据平台 Kaifang Open Data", "Title of the catalog in DCAT, data.json and CKAN's status_show."),
    Setting("CATALOG_PUBLISHER", str, "Municipal Open Data Office", "Publisher of the catalog (DCAT `dct:publisher`)."),
    Setting("CATALOG_CONTACT_EMAIL", str, "opendata@example.gov.cn", "Contact of the catalog and fallback contact of datasets without one."),
    Setting("SEARCH_SYNONYMS", str, "", "Synonym table of search (one group per line); empty means the bundled `portal/search/synonyms.txt`."),
    Setting("SEARCH_LOCK_TIMEOUT", int, 10, "Seconds a process waits for the search index's writer lock before leaving its changes to the next drain."),
    Setting("SEARCH_DRAIN_INTERVAL", int, 5, "Seconds between each process's sweeps of the search outbox for changes left behind; 0 turns the timer off."),
    Setting("SEARCH_BACKGROUND_REBUILD", bool, True, "Rebuild a missing or corrupt search index in a background thread while the site answers from the database."),
    # Conditional access: applications, their review clock, stewards' copy of run code (issue 12, access).
    Setting("ACCESS_REVIEW_WORKING_DAYS", int, 2, "Working days (China's calendar: public holidays off, make-up workdays on) a steward has to decide a submitted application."),
    Setting("AUDIT_CODE_STORAGE", str, "encrypted", "`encrypted` keeps each run's code Fernet-encrypted for stewards; `hash` keeps only its SHA-256 and size."),
    Setting("AUDIT_CODE_KEY", str, "", "Fernet key of stored run code; empty means the instance's `audit-code.key` file (0600, written on first use)."),
    # Analysis sessions over the API and the notebook, and their run queue (issue 12, sessions; docs/sessions.md).
    Setting("SESSION_IDLE_MINUTES", int, 30, "Minutes without a run after which an analysis session expires."),
    Setting("SESSION_MAX_CONCURRENT", int, 3, "Open analysis sessions one person may have at a time."),
    Setting("SESSION_CPU_SECONDS_DAILY", int, 600, "Sandbox CPU seconds one person's session runs may use per day (UTC)."),
    Setting("SESSION_MAX_CODE_BYTES", int, 64 * 1024, "Largest code of one run (cell), in bytes of UTF-8; larger answers 413."),
    Setting("SESSION_QUEUE_URL", str, "", "Run queue: empty runs cells on worker threads inside each web process; `redis://host:6379/0` queues them in Redis for `kaifang run-worker`, which holds the sandbox pool."),
    Setting("SESSION_QUEUE_THREADS", int, 0, "Threads taking runs off the queue (per web process, or per `kaifang run-worker`); 0 means SANDBOX_WORKERS."),
)

SETTING_NAMES = frozenset(s.name for s in SETTINGS)


class ConfigError(Exception):
    """A setting has a value of the wrong type or an unsafe value."""


def instance_path() -> Path:
    """The instance folder: `KAIFANG_INSTANCE` when set, else `./instance`."""
    return Path(os.environ.get("KAIFANG_INSTANCE") or "instance").resolve()


def load_config(instance: Path, test_config: dict[str, Any] | None = None, *,
                rate_limits: bool = True) -> dict[str, Any]:
    """Build the settings mapping in the documented order and validate it.

    `rate_limits=False` leaves the rate-limit strings unparsed: a process that applies no rate
    limit (`kaifang sandbox-run`, `run-worker`: `portal.create_core`) need not import the
    `limits` package, a tenth of its start-up; every web process parses them at start."""
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    values.update(_read_settings_file(instance))
    values.update(_read_environment())
    if test_config:
        values.update(test_config)
    values = {name: _coerce(name, value) for name, value in values.items()}
    _fill_paths(values, instance)
    _validate(values)
    if rate_limits:
        _validate_rate_limits(values)
    return values


def _read_settings_file(instance: Path) -> dict[str, Any]:
    path = Path(os.environ.get("KAIFANG_SETTINGS") or instance / "kaifang.cfg")
    if not path.is_file():
        return {}
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102 - operator's own file, like Flask's from_pyfile
    return {k: v for k, v in namespace.items() if k in SETTING_NAMES}


def _read_environment() -> dict[str, Any]:
    found = {}
    for name in SETTING_NAMES:
        raw = os.environ.get(f"KAIFANG_{name}")
        if raw is not None:
            found[name] = raw
    return found


def _coerce(name: str, value: Any) -> Any:
    declared = next((s for s in SETTINGS if s.name == name), None)
    if declared is None or isinstance(value, declared.type) and not (declared.type is int and isinstance(value, bool)):
        return value
    if declared.type is bool and isinstance(value, str):
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off", ""}:
            return False
    if declared.type is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if declared.type is float and isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"setting {name} must be {declared.type.__name__}, got {value!r}")


def _fill_paths(values: dict[str, Any], instance: Path) -> None:
    values["INSTANCE_PATH"] = str(instance)
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'kaifang.db'}"
    if not values["DATA_DIR"]:
        values["DATA_DIR"] = str(instance / "data")
    if not values["SEARCH_DIR"]:
        values["SEARCH_DIR"] = str(instance / "search")
    if not values["MAIL_DIR"]:
        values["MAIL_DIR"] = str(instance / "mail")
    if not values["DATASETS_DIR"]:
        values["DATASETS_DIR"] = str(Path("datasets").resolve())


def _validate(values: dict[str, Any]) -> None:
    if values["SECRET_KEY"] == DEFAULT_SECRET and not (values["DEBUG"] or values["TESTING"]):
        raise ConfigError(
            "SECRET_KEY is the development default; set KAIFANG_SECRET_KEY "
            "(or run `kaifang init`, which writes one into the instance's kaifang.cfg)"
        )
    for key in ("PREVIEW_PAGE_SIZE", "PREVIEW_MAX_PAGE_SIZE", "LIST_PAGE_SIZE", "MAX_CONTENT_LENGTH",
                "SANDBOX_WORKERS", "ANALYSIS_DUCKDB_THREADS", "DIFFERENCING_MEMORY_CELLS", "API_PAGE_SIZE",
                "API_MAX_PAGE_SIZE", "COUNTS_FLUSH_SECONDS", "SANDBOX_WALL_SECONDS", "SESSION_IDLE_MINUTES",
                "SESSION_MAX_CONCURRENT", "SESSION_MAX_CODE_BYTES", "RATELIMIT_LEASE_MAX", "RATELIMIT_LEASE_SECONDS",
                "RATELIMIT_LEASE_WORKERS"):
        if values[key] <= 0:
            raise ConfigError(f"setting {key} must be positive")
    _validate_choices(values)


def _validate_rate_limits(values: dict[str, Any]) -> None:
    from limits import parse_many  # noqa: PLC0415 - only needed here

    try:
        tiers = parse_tiers(values["RATELIMIT_TIERS"])
        for key in ("RATELIMIT_ANON", "RATELIMIT_LOGIN_ADDRESS", "RATELIMIT_LOGIN_ACCOUNT", "RATELIMIT_MAIL",
                    *(f"tier {name}" for name in tiers)):
            parse_many(values[key] if key in values else tiers[key.removeprefix("tier ")])
    except ValueError as exc:
        raise ConfigError(f"a rate limit setting is not valid: {exc}") from exc
    if values["RATELIMIT_DEFAULT_TIER"] not in tiers:
        raise ConfigError(f"RATELIMIT_DEFAULT_TIER {values['RATELIMIT_DEFAULT_TIER']!r} is not in RATELIMIT_TIERS")


def _validate_choices(values: dict[str, Any]) -> None:
    if values["MAIL_BACKEND"] not in {"file", "smtp"}:
        raise ConfigError("MAIL_BACKEND must be `file` or `smtp`")
    if values["AUDIT_CODE_STORAGE"] not in {"encrypted", "hash"}:
        raise ConfigError("AUDIT_CODE_STORAGE must be `encrypted` or `hash`")
    if values["ACCESS_REVIEW_WORKING_DAYS"] < 1:
        raise ConfigError("ACCESS_REVIEW_WORKING_DAYS must be positive")
    if values["SESSION_QUEUE_URL"] and not values["SESSION_QUEUE_URL"].startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("SESSION_QUEUE_URL must be empty or a redis:// URL")
    if values["SESSION_QUEUE_THREADS"] < 0 or values["SESSION_CPU_SECONDS_DAILY"] < 0:
        raise ConfigError("SESSION_QUEUE_THREADS and SESSION_CPU_SECONDS_DAILY must be 0 or more")
    if values["PROXY_TRUSTED_HOPS"] < 0:
        raise ConfigError("PROXY_TRUSTED_HOPS must be 0 or more")


def parse_tiers(text: str) -> dict[str, str]:
    """`developer=600/minute;100000/day|partner=...` as {tier: limits}. Raises ValueError."""
    tiers = {}
    for part in filter(None, (p.strip() for p in text.split("|"))):
        name, sep, limits = part.partition("=")
        if not sep or not name.strip() or not limits.strip():
            raise ValueError(f"tier {part!r} is not `name=limits`")
        tiers[name.strip()] = limits.strip()
    if not tiers:
        raise ValueError("RATELIMIT_TIERS names no tier")
    return tiers
