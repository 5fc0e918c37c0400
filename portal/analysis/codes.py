"""Stewards' copy of the code of each run: Fernet-encrypted, or not kept at all (hash only).

`AUDIT_CODE_STORAGE` chooses: `encrypted` (the default) keeps each run's code encrypted with a
key of its own, `AUDIT_CODE_KEY` or else the instance's `audit-code.key` file (0600, written on
first use), so a copy of the database alone does not reveal analysts' code; `hash` keeps only
the SHA-256 and size every run record has anyway. Only the audit's `get_run_code` decrypts, for
stewards.

Must not: share key material with SECRET_KEY or the disclosure key; log code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_FILE = "audit-code.key"
STORAGE = ("encrypted", "hash")


@dataclass(frozen=True)
class CodeVault:
    key: bytes

    def seal(self, code: str) -> str:
        return _fernet(self.key).encrypt(code.encode("utf-8", "surrogatepass")).decode("ascii")

    def open(self, token: str) -> str | None:
        """The code, or None when it was sealed under another key (rotated)."""
        from cryptography.fernet import InvalidToken  # noqa: PLC0415 - see `_fernet`

        try:
            return _fernet(self.key).decrypt(token.encode("ascii")).decode("utf-8", "surrogatepass")
        except InvalidToken:
            return None


def _fernet(key: bytes) -> Fernet:
    """Imported at first use: `cryptography`'s bindings take ~0.12 s to load, and
    `kaifang sandbox-run` reads this module before it starts the sandbox's zygote
    (`runtime.warm_pool`), which then booted that much later. The seal runs after the pool is
    started, so the import overlaps the zygote's boot on the other core."""
    from cryptography.fernet import Fernet  # noqa: PLC0415

    return Fernet(key)


def vault_from_config(config: Mapping[str, Any]) -> CodeVault | None:
    """The vault of `encrypted` storage, None for `hash`. Raises ValueError for another value."""
    storage = str(config.get("AUDIT_CODE_STORAGE", "encrypted"))
    if storage not in STORAGE:
        raise ValueError(f"AUDIT_CODE_STORAGE must be one of {', '.join(STORAGE)}")
    if storage == "hash":
        return None
    if config.get("AUDIT_CODE_KEY"):
        return CodeVault(str(config["AUDIT_CODE_KEY"]).encode("ascii"))
    return CodeVault(_key_file(Path(config["INSTANCE_PATH"]) / KEY_FILE))


def _new_key() -> bytes:
    from cryptography.fernet import Fernet  # noqa: PLC0415 - see `_fernet`

    return Fernet.generate_key()


def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(_new_key() + b"\n")
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} is readable by other users: chmod 600 it")
    return path.read_bytes().strip()
