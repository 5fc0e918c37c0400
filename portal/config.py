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
    Setting("RATELIMIT_ANON", str, "120/minute", "Default limit for anonymous clients, keyed by address."),
    Setting("PREVIEW_PAGE_SIZE", int, 25, "Rows per page of the dataset preview."),
    Setting("PREVIEW_MAX_PAGE_SIZE", int, 500, "Largest page size a client may ask for; larger values are clamped."),
    Setting("LIST_PAGE_SIZE", int, 20, "Datasets per page of the dataset list."),
    Setting("DEFAULT_LOCALE", str, "zh_CN", "Locale of pages when the visitor has not chosen one."),
    Setting("DEBUG", bool, False, "Flask debug mode; never in production."),
    Setting("TESTING", bool, False, "Set by the test suite."),
    Setting("SEARCH_SYNONYMS", str, "", "Synonym table of search (one group per line); empty means the bundled `portal/search/synonyms.txt`."),
    Setting("SEARCH_LOCK_TIMEOUT", int, 10, "Seconds a process waits for the search index's writer lock before leaving its changes to the next drain."),
    Setting("SEARCH_DRAIN_INTERVAL", int, 5, "Seconds between each process's sweeps of the search outbox for changes left behind; 0 turns the timer off."),
    Setting("SEARCH_BACKGROUND_REBUILD", bool, True, "Rebuild a missing or corrupt search index in a background thread while the site answers from the database."),
)

SETTING_NAMES = frozenset(s.name for s in SETTINGS)


class ConfigError(Exception):
    """A setting has a value of the wrong type or an unsafe value."""


def instance_path() -> Path:
    """The instance folder: `KAIFANG_INSTANCE` when set, else `./instance`."""
    return Path(os.environ.get("KAIFANG_INSTANCE") or "instance").resolve()


def load_config(instance: Path, test_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the settings mapping in the documented order and validate it."""
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    values.update(_read_settings_file(instance))
    values.update(_read_environment())
    if test_config:
        values.update(test_config)
    values = {name: _coerce(name, value) for name, value in values.items()}
    _fill_paths(values, instance)
    _validate(values)
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
    raise ConfigError(f"setting {name} must be {declared.type.__name__}, got {value!r}")


def _fill_paths(values: dict[str, Any], instance: Path) -> None:
    values["INSTANCE_PATH"] = str(instance)
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'kaifang.db'}"
    if not values["DATA_DIR"]:
        values["DATA_DIR"] = str(instance / "data")
    if not values["SEARCH_DIR"]:
        values["SEARCH_DIR"] = str(instance / "search")
    if not values["DATASETS_DIR"]:
        values["DATASETS_DIR"] = str(Path("datasets").resolve())


def _validate(values: dict[str, Any]) -> None:
    if values["SECRET_KEY"] == DEFAULT_SECRET and not (values["DEBUG"] or values["TESTING"]):
        raise ConfigError(
            "SECRET_KEY is the development default; set KAIFANG_SECRET_KEY "
            "(or run `kaifang init`, which writes one into the instance's kaifang.cfg)"
        )
    for key in ("PREVIEW_PAGE_SIZE", "PREVIEW_MAX_PAGE_SIZE", "LIST_PAGE_SIZE"):
        if values[key] <= 0:
            raise ConfigError(f"setting {key} must be positive")
