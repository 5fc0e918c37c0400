"""Length-prefixed JSON frames over a stream socket: the only encoding used across processes.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. The reader is told the
largest frame it accepts and refuses a bigger header before reading the body, so a hostile
worker cannot make the supervisor buffer more than the cap. Never pickle.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")


class WireError(Exception):
    """The peer sent something that is not a well-formed frame within the caps."""


class PeerClosed(WireError):
    """The peer closed the connection (at a frame boundary or in the middle of one)."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-JSON number {name}")


def encode(message: Any) -> bytes:
    """Strict JSON: no NaN or Infinity, which other JSON readers refuse."""
    body = json.dumps(message, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return body.encode("utf-8")


def decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed JSON frame: {exc}") from None


def send(sock: socket.socket, message: Any) -> None:
    body = encode(message)
    sock.sendall(HEADER.pack(len(body)) + body)


def _read_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("frame not received in time")
            sock.settimeout(left)
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise PeerClosed("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket, max_bytes: int, deadline: float | None = None) -> Any:
    """Read one frame. Raises TimeoutError at `deadline`, WireError on caps or bad JSON."""
    (size,) = HEADER.unpack(_read_exact(sock, HEADER.size, deadline))
    if size > max_bytes:
        raise WireError(f"frame of {size} bytes exceeds the cap of {max_bytes}")
    return decode(_read_exact(sock, size, deadline))
