"""Which reader a source needs: its format, from the caller, the file name or its first bytes.

The name decides when it is one we know (`.gz` is looked through); otherwise the first bytes do
(a zip is XLSX, an OLE2 file legacy XLS, `[` or `{` is JSON). PDFs and anything else are refused as
`unsupported-format` rather than guessed at.
"""

from __future__ import annotations

from pathlib import Path

from portal.store.encodings import read_head
from portal.store.errors import IngestError

FORMATS = ("csv", "tsv", "xlsx", "xls", "json", "ndjson", "geojson")

_EXTENSIONS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv", ".xlsx": "xlsx", ".xls": "xls",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".geojson": "geojson",
}
_REFUSED_MAGIC = {b"%PDF": "PDF"}
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # OLE2 compound file: legacy Excel


def detect_format(source: Path, declared: str | None) -> str:
    """The source format, one of `FORMATS`.

    Raises:
        IngestError: `unsupported-format`.
    """
    if declared is not None:
        if declared.lower() not in FORMATS:
            raise IngestError(
                "unsupported-format", f"format {declared!r} is not one of {', '.join(FORMATS)}"
            )
        return declared.lower()
    suffixes = [s.lower() for s in source.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    return _from_content(source, suffixes[-1] if suffixes else "")


def _from_content(source: Path, suffix: str) -> str:
    head = read_head(source, 4096)
    for magic, name in _REFUSED_MAGIC.items():
        if head.startswith(magic):
            raise IngestError("unsupported-format", f"{name} files are not supported")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(_XLS_MAGIC):
        return "xls"
    if suffix:
        raise IngestError("unsupported-format", f"files ending in {suffix!r} are not supported")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped[:1] in (b"[", b"{") else "csv"
