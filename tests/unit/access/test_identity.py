"""The applicant's identity document (decision 0031e): a resident ID by GB 11643's check
character and a real date of birth, other documents loosely, the credit code by GB 32100; the
digest is keyed, of the normalised number, and never the number."""

from __future__ import annotations

import pytest

from portal.access.identity import (
    credit_code_error,
    digest,
    last4,
    normalise,
    number_error,
    resident_id_error,
)


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", " 110105 19491231 002X "])
def test_a_well_formed_resident_id_passes_written_any_way(number):
    assert resident_id_error(number) is None
    assert normalise(number) == "11010519491231002X" and last4(number) == "002X"


@pytest.mark.parametrize(("number", "problem"), [
    ("110105194912310021", "checksum"),  # one character off: the check catches it
    ("11010519491231002", "length"),
    ("1101051949123100XX", "length"),
    ("110105194902300027", "birth-date"),  # 30 February
    ("110105230001010021", "birth-date"),  # born in 2300
])
def test_a_malformed_resident_id_says_why(number, problem):
    assert resident_id_error(number) == problem


def test_other_documents_are_checked_loosely_and_the_type_must_be_known():
    assert number_error("passport", "E12345678") is None
    assert number_error("other", "H1234-5678") is None
    assert number_error("passport", "E1") == "format"
    assert number_error("passport", "") == "required"
    assert number_error("licence", "E12345678") == "document-type"


def test_the_credit_code_is_optional_and_checked():
    assert credit_code_error("") is None
    assert credit_code_error("91350100M000100Y43") is None
    assert credit_code_error("91350100M000100Y44") == "checksum"
    assert credit_code_error("91350100M000100Y4") == "format"
    assert credit_code_error("91350100M0001O0Y43") == "format"  # the letter O is not in the alphabet


def test_the_digest_is_keyed_and_of_the_normalised_number():
    key, other = b"k" * 32, b"j" * 32
    assert digest(key, "11010519491231002x") == digest(key, " 110105 19491231002X")
    assert digest(key, "11010519491231002X") != digest(other, "11010519491231002X")
    assert "11010519491231002X" not in digest(key, "11010519491231002X")
    assert len(digest(key, "E12345678")) == 64
