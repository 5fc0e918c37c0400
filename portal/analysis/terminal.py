"""Text an analyst controls, made safe for the operator's terminal.

Run outputs (printed text, `show` cells, `chart` titles and labels, error messages, refusal
reasons) are analyst strings. HTML pages escape them through Jinja's autoescape and the chart
front end renders titles as text; a terminal has no such layer, and escape sequences in a
string (ESC, CSI as the single byte U+009B, OSC hyperlinks, a carriage return that rewrites the
line) can recolour, hide or forge what the operator reads. So every control character except
newline (when asked) and tab is shown as a visible `\\x..` escape instead.
"""

from __future__ import annotations

import unicodedata


def safe(text: str, *, keep_newlines: bool = False) -> str:
    kept = {"\t", "\n"} if keep_newlines else {"\t"}
    return "".join(ch if ch in kept or not _control(ch) else _escaped(ch) for ch in str(text))


def _control(ch: str) -> bool:
    # Cc: C0 and C1 controls and DEL; Cf covers bidirectional overrides (U+202E) that reorder text.
    return unicodedata.category(ch) in ("Cc", "Cf") and ch not in ("\u200d",)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_json(dumped: str) -> str:
    """JSON text with every control character but structural newlines as a `\\uXXXX` escape:
    still valid JSON meaning the same strings (`json.dumps(ensure_ascii=False)` leaves C1 and
    format characters raw, which a terminal may obey)."""
    return "".join(ch if ch == "\n" or not _control(ch) else f"\\u{ord(ch):04x}" for ch in dumped)
