"""The disclosure key: the secret behind cell-key noise and record keys, apart from SECRET_KEY.

Why a separate secret: `SECRET_KEY` signs sessions and is rotated whenever a cookie might have
leaked; rotating it must not silently change every released figure. The disclosure key is
rotated only on purpose (`kaifang rotate-disclosure-key`), because rotation has a cost: every
answer of conditional data changes (an analyst who kept yesterday's answers now holds two
independent noise draws of each cell, which halves the noise's protection for those cells), and
the differencing memory of released cells is reset (it is keyed by record keys, which change).

The key is the `DISCLOSURE_KEY` setting when set, else the file `disclosure.key` in the instance
folder (64 hex characters, mode 0600), made by `kaifang init`. Every purpose gets its own
sub-key (HMAC-SHA256 of the purpose), so no two uses share key material. The fingerprint (a
hash of the key, never the key) tags remembered cells, so cells remembered under an old key are
never consulted under a new one even if the operator rotates by hand.

Must not: fall back to SECRET_KEY or to a built-in key when no key is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_FILE = "disclosure.key"
KEY_BYTES = 32


class MissingKey(Exception):
    """No disclosure key is configured: conditional data cannot be analysed."""


@dataclass(frozen=True)
class DisclosureKey:
    secret: bytes

    def derive(self, purpose: str) -> bytes:
        """A per-purpose sub-key."""
        return hmac.new(self.secret, purpose.encode(), hashlib.sha256).digest()

    def noise_key(self) -> bytes:
        return self.derive("cell-noise")

    def grid_key(self) -> bytes:
        """The secret of the differencing memory's grid of sizes (`memory._scanned`)."""
        return self.derive("memory-grid")

    def row_salt(self, slug: str) -> int:
        """The secret salt of one dataset's record keys (56 bits, as DuckDB binds it). The same
        for every version: a record keeps its key, so a new version redraws no unchanged cell's
        noise (it used to be one salt per version: every release gave fresh draws to average,
        fifth round, decision 0023e)."""
        return int.from_bytes(self.derive(f"record-key:{slug}")[:7], "big")

    @property
    def fingerprint(self) -> str:
        """Names the key in stored cells without revealing it."""
        return hashlib.sha256(b"kaifang-disclosure-fingerprint:" + self.secret).hexdigest()[:16]


def key_path(instance: Path) -> Path:
    return Path(instance) / KEY_FILE


def create_key_file(instance: Path) -> bool:
    """Write a fresh key file unless one exists (mode 0600 from the start). True if written."""
    path = key_path(instance)
    if path.exists():
        return False
    _write(path)
    return True


def replace_key_file(instance: Path) -> None:
    """Write a new key over the old one (atomically: a reader sees the old or the new key)."""
    path = key_path(instance)
    scratch = path.with_name(path.name + ".new")
    scratch.unlink(missing_ok=True)
    _write(scratch)
    os.replace(scratch, path)


def _write(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")


def load_key(config: Mapping[str, Any]) -> DisclosureKey:
    """The configured key: the `DISCLOSURE_KEY` setting, else the instance's key file.

    Raises:
        MissingKey: neither is there, or the file is readable by others than the owner.
    """
    if config.get("DISCLOSURE_KEY"):
        return DisclosureKey(str(config["DISCLOSURE_KEY"]).encode())
    path = key_path(Path(config["INSTANCE_PATH"]))
    if not path.is_file():
        raise MissingKey(f"no disclosure key: run `kaifang init` (it writes {path}) or set DISCLOSURE_KEY")
    if path.stat().st_mode & 0o077:
        raise MissingKey(f"{path} is readable by other users: chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 2 * KEY_BYTES:
        raise MissingKey(f"{path} holds no key of {KEY_BYTES} bytes")
    return DisclosureKey(bytes.fromhex(text))
