"""Reading source bytes: gzip, byte-order marks, encoding detection and transcoding to UTF-8.

DuckDB reads only UTF-8 (with or without BOM, plain or gzip) without extensions, and the network
is closed, so everything else - GB18030/GBK, UTF-16 with a BOM - is transcoded here, streaming,
into a temp file next to the destination (named `.tmp-*` so that `sweep` finds it if we die).
Detection order: an explicit encoding; a BOM; strict UTF-8 on the first megabyte; GB18030 (a
superset of GBK and GB2312, the usual non-UTF-8 encoding of Chinese government files);
charset-normalizer's best guess. Anything else is `undecodable`.
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import charset_normalizer

from portal.store.errors import IngestError

SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
DUCKDB_NATIVE = {"utf-8", "utf-8-sig"}


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes (the extension is not trusted)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_bytes(path: Path) -> BinaryIO:
    """The source's bytes, decompressed transparently when it is gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def read_head(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """The first `size` (decompressed) bytes of the source.

    Raises:
        IngestError: `undecodable` when a `.gz` file is not valid gzip.
    """
    try:
        with open_bytes(path) as handle:
            return handle.read(size)
    except (OSError, EOFError) as exc:
        raise IngestError("undecodable", f"the file is not valid gzip: {exc}") from exc


def detect_encoding(head: bytes, declared: str | None) -> str:
    """The encoding of a source whose first bytes are `head`.

    Raises:
        IngestError: `unknown-encoding` for a declared name Python does not know, `undecodable`
            when no candidate decodes the sample.
    """
    if declared:
        return _normalise(declared)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    for candidate in ("utf-8", "gb18030"):
        if _decodes(head, candidate):
            return candidate
    best = charset_normalizer.from_bytes(head).best()
    if best is None:
        offset = _first_bad_offset(head)
        line = head[:offset].count(b"\n") + 1
        raise IngestError(
            "undecodable",
            f"line {line}: the file is in no encoding we can read (bad byte at offset {offset})",
            line=line,
        )
    return _normalise(best.encoding)


def _normalise(name: str) -> str:
    try:
        canonical = codecs.lookup(name).name
    except LookupError as exc:
        raise IngestError("unknown-encoding", f"unknown encoding {name!r}") from exc
    aliases = {"utf-16": "utf-16-le", "gbk": "gb18030", "gb2312": "gb18030"}
    return aliases.get(canonical, canonical)


def _decodes(head: bytes, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        decoder.decode(head, final=len(head) < SAMPLE_BYTES)
    except UnicodeDecodeError:
        return False
    return True


def _first_bad_offset(head: bytes) -> int:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def decode_head(head: bytes, encoding: str) -> str:
    """The sample as text, dropping a trailing partial character or line."""
    text = codecs.getincrementaldecoder(encoding)("replace").decode(head, final=False)
    if len(head) >= SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text.lstrip("\ufeff")


def transcode(
    source: Path, target: Path, encoding: str, progress: Callable[[int], None] | None = None
) -> None:
    """Stream `source` (any encoding, maybe gzip) into `target` as UTF-8 without BOM.

    Raises:
        IngestError: `undecodable` with the line and byte offset of the first bad sequence.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done, lines, first = 0, 0, True
    with open_bytes(source) as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            text = _decode_chunk(decoder, encoding, chunk, (done, lines))
            if first:
                text, first = text.lstrip("\ufeff"), False
            dst.write(text.encode("utf-8"))
            done += len(chunk)
            lines += text.count("\n")
            if progress:
                progress(done)
        _decode_chunk(decoder, encoding, b"", (done, lines), final=True)


def _decode_chunk(
    decoder: codecs.IncrementalDecoder,
    encoding: str,
    chunk: bytes,
    position: tuple[int, int],
    *,
    final: bool = False,
) -> str:
    """Decode one chunk; `position` is (bytes, lines) already done, for the error message."""
    done, lines = position
    try:
        return decoder.decode(chunk, final=final)
    except UnicodeDecodeError as exc:
        good = codecs.decode(chunk[: exc.start], encoding, "replace")
        line = lines + good.count("\n") + 1
        raise IngestError(
            "undecodable",
            f"line {line}: bytes at offset {done + exc.start} are not valid {exc.encoding}",
            line=line,
        ) from exc
