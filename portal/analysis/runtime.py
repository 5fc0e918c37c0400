"""The analysis runtime from settings: the portal's sandbox pool and the broker's limits.

One pool per process and configuration (started on first use, closed at exit), so the web app,
the CLI and tests share the same fail-closed rules: every isolation layer is required unless
`SANDBOX_ALLOW_MISSING_LAYERS` names it. That override is logged by the pool at start and on
every run that uses it, and each run's audit record keeps `isolation_fallback`.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sandbox
from portal.analysis.codes import CodeVault, vault_from_config
from portal.analysis.keys import DisclosureKey, load_key
from portal.catalog.disclosure_settings import EpsilonDefaults
from sandbox.isolation import LAYERS

log = logging.getLogger(__name__)
_pools: dict[tuple[int, frozenset[str]], sandbox.Sandbox] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class AnalysisSettings:
    """What a run needs from the configuration."""

    key: DisclosureKey
    data_dir: Path
    workers: int = 2
    wall_seconds: float = 10.0  # a run's wall-clock limit (sandbox.Limits.wall_seconds)
    allow_missing: frozenset[str] = frozenset()
    duckdb_memory: str = "1GB"
    duckdb_threads: int = 2
    memory_cells: int = 50000
    answer_quantum: float = 0.02  # seconds: conditional answers leave at multiples of it
    epsilon: EpsilonDefaults = EpsilonDefaults()  # the ε-budget mode's portal defaults
    # the public's ε per dataset, a day and over all days, for the public aggregates of a
    # dataset in the ε-budget mode (decision 0030z)
    public_epsilon_daily: float = 0.5
    public_epsilon_lifetime: float = 5.0
    code_vault: CodeVault | None = None  # seals each run's code for stewards; None keeps only its hash

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AnalysisSettings:
        """Raises: keys.MissingKey (no disclosure key); ValueError (an unknown layer name)."""
        return cls(key=load_key(config), data_dir=Path(config["DATA_DIR"]), workers=int(config["SANDBOX_WORKERS"]),
                   wall_seconds=float(config["SANDBOX_WALL_SECONDS"]),
                   allow_missing=parse_layers(config.get("SANDBOX_ALLOW_MISSING_LAYERS", "")),
                   duckdb_memory=str(config["ANALYSIS_DUCKDB_MEMORY"]),
                   duckdb_threads=int(config["ANALYSIS_DUCKDB_THREADS"]),
                   memory_cells=int(config["DIFFERENCING_MEMORY_CELLS"]),
                   answer_quantum=int(config["ANALYSIS_ANSWER_QUANTUM_MS"]) / 1000,
                   epsilon=EpsilonDefaults.from_config(config), code_vault=vault_from_config(config),
                   public_epsilon_daily=float(config["PUBLIC_AGGREGATE_DAILY_EPSILON"]),
                   public_epsilon_lifetime=float(config["PUBLIC_AGGREGATE_LIFETIME_EPSILON"]))


def app_settings(app: Any) -> AnalysisSettings:
    """A Flask app's analysis settings, read once per app (the disclosure key is a file read) and
    shared by the session worker and the public aggregates. Raises: keys.MissingKey, not cached."""
    settings = app.extensions.get("kaifang.analysis_settings")
    if settings is None:
        settings = app.extensions["kaifang.analysis_settings"] = AnalysisSettings.from_config(app.config)
    return settings


def parse_layers(text: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in str(text).split(",") if part.strip())
    unknown = names - set(LAYERS)
    if unknown:
        raise ValueError(f"SANDBOX_ALLOW_MISSING_LAYERS names unknown layers: {sorted(unknown)}; known: {list(LAYERS)}")
    return names


def pool(settings: AnalysisSettings) -> sandbox.Sandbox:
    """The process's pool for these settings."""
    key = (settings.workers, settings.allow_missing)
    with _lock:
        if key not in _pools:
            if not _pools:
                atexit.register(close_pools)
            _pools[key] = sandbox.Sandbox(sandbox.SandboxConfig(workers=settings.workers,
                                                                allow_missing=settings.allow_missing))
        return _pools[key]


def warm_pool(config: Mapping[str, Any]) -> threading.Thread | None:
    """Start this configuration's pool on a background thread and return at once.

    `kaifang sandbox-run` calls it before importing the database layers: the zygote boots (a
    fresh interpreter on the other core) while this process imports and reads its grants, so
    the wait for the pool overlaps the start-up instead of following it. A bad configuration
    is not reported here but by the run itself, which reads the same settings again.
    """
    try:
        settings = AnalysisSettings.from_config(config)
    except Exception:  # noqa: BLE001 - the run reports it, with the command's own message
        return None

    def start() -> None:
        try:
            pool(settings)
        except Exception:  # noqa: BLE001 - the run's own `pool()` call tries again and raises
            log.warning("the sandbox pool did not start early; the run starts it", exc_info=True)

    thread = threading.Thread(target=start, name="kaifang-pool-start", daemon=True)
    thread.start()
    return thread


def prepare_zygote() -> None:
    """Boot the sandbox zygote of this process's first pool before its settings are read (the
    command server's spare copy, while it waits for a command: decision 0030v)."""
    sandbox.prepare_zygote()


def close_pools() -> None:
    with _lock:
        for started in _pools.values():
            started.close()
        _pools.clear()
