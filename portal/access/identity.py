"""The applicant's identity on an application: checked, then kept only as a keyed digest.

Conditional data is applied for under one's real name (the applicant's name and identity
document, the organisation's unified social credit code), as Chinese platforms require. The
portal needs the document number for one thing: to tell that two accounts are one person, so
that the person's grants share one disclosure budget (decision 0031e). It therefore keeps only
an HMAC of the normalised number under a sub-key of the disclosure key (`digest`), which two
applications of one person share and which reveals nothing without the key, and the number's
last four characters for the steward to compare with the documents. The number itself is never
stored.

The digest is of the number alone, not of the document type: the same number entered under
another type (a resident ID typed as "other") still matches.

Must not: import from portal.analysis (a layer above): the key is read through `identity_key`,
whose reader the app factory installs (`set_key_reader`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from portal.errors import PortalError

DOCUMENT_TYPES = ("resident", "passport", "other")  # 居民身份证, 护照, 其他证件
KEY_PURPOSE = "applicant-identity"

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999
_CHECKS = "10X98765432"
_CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015, without I O Z S V
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_LOOSE = re.compile(r"[A-Z0-9-]{5,30}")

class Unavailable(PortalError):
    """No disclosure key on this instance (`kaifang init` writes one): no identity can be kept,
    so no application is taken (as nothing conditional is answered without one)."""

    status, code, title = 503, "applications-unavailable", "Applications unavailable"


_key_reader: Callable[[Mapping[str, Any]], bytes] | None = None


def set_key_reader(reader: Callable[[Mapping[str, Any]], bytes]) -> None:
    """Install how the digest's key is read from a configuration (the app factory does, with
    the disclosure key's sub-key for `KEY_PURPOSE`)."""
    global _key_reader  # noqa: PLW0603 - one reader per process, as the sample writer's hook
    _key_reader = reader


def identity_key(config: Mapping[str, Any]) -> bytes:
    """The key of the identity digests under `config`.

    Raises:
        Unavailable: the instance has no disclosure key (the reader raises it).
        RuntimeError: no reader is installed (the app factory installs it).
    """
    if _key_reader is None:
        raise RuntimeError("no identity key reader: create the app with portal.create_app")
    return _key_reader(config)


def normalise(number: str) -> str:
    """The number as compared and digested: every space gone, letters upper-case (x → X)."""
    return "".join(str(number).split()).upper()


def digest(key: bytes, number: str) -> str:
    """The keyed digest of a document number (hex): what the portal keeps instead of it."""
    return hmac.new(key, b"kaifang-identity:" + normalise(number).encode(), hashlib.sha256).hexdigest()


def last4(number: str) -> str:
    return normalise(number)[-4:]


def resident_id_error(number: str) -> str | None:
    """Why `number` is not a mainland resident ID number (18 characters, 17 digits and a check
    character per GB 11643, a real date of birth), or None when it is one."""
    text = normalise(number)
    if len(text) != 18 or not text[:17].isdigit() or text[17] not in "0123456789X":
        return "length"
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return "birth-date"
    if born.year < 1900 or born > date.today():
        return "birth-date"
    if _CHECKS[sum(int(d) * w for d, w in zip(text[:17], _WEIGHTS, strict=True)) % 11] != text[17]:
        return "checksum"
    return None


def number_error(document_type: str, number: str) -> str | None:
    """Why `number` is not a number of `document_type`, or None: a resident ID strictly, other
    documents loosely (5 to 30 letters, digits or hyphens)."""
    if document_type not in DOCUMENT_TYPES:
        return "document-type"
    if not normalise(number):
        return "required"
    if document_type == "resident":
        return resident_id_error(number)
    return None if _LOOSE.fullmatch(normalise(number)) else "format"


def credit_code_error(code: str) -> str | None:
    """Why `code` is not a unified social credit code (18 characters of GB 32100's alphabet, the
    last a check character), or None; an empty code is fine (it is optional)."""
    text = normalise(code)
    if not text:
        return None
    if len(text) != 18 or any(c not in _CREDIT_CHARSET for c in text):
        return "format"
    total = sum(_CREDIT_CHARSET.index(c) * w for c, w in zip(text[:17], _CREDIT_WEIGHTS, strict=True))
    return None if _CREDIT_CHARSET[(31 - total % 31) % 31] == text[17] else "checksum"


MESSAGES = {
    "required": "the identity document number is required",
    "document-type": f"the document type is one of {', '.join(DOCUMENT_TYPES)}",
    "length": "a resident ID number has 18 characters: 17 digits and a digit or X",
    "birth-date": "the resident ID number's date of birth (characters 7 to 14) is not a real date",
    "checksum": "the resident ID number's last character does not match its check (GB 11643): a typing mistake?",
    "format": "a document number has 5 to 30 letters, digits or hyphens",
}
CREDIT_MESSAGES = {
    "format": "a unified social credit code has 18 characters (digits and capital letters but I, O, Z, S, V)",
    "checksum": "the unified social credit code's last character does not match its check (GB 32100)",
}
