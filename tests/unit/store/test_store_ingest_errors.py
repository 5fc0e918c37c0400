"""Every broken shape of input gives its IngestError code, a useful message, and stores nothing."""

from __future__ import annotations

import gzip
import json

import pytest

from portal.store import IngestError, ingest


def _fails(tmp_path, dest, name: str, content: bytes, **options) -> IngestError:
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        ingest(source, dest, **options)
    assert list(dest.iterdir()) == []  # nothing stored, no temp left behind
    return caught.value


def test_ragged_row_names_the_line_and_counts(tmp_path, dest):
    error = _fails(tmp_path, dest, "r.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n")
    assert error.code == "ragged-row"
    assert error.line == 4
    assert error.message == "line 4 has 4 fields, expected 3"


def test_short_row_is_ragged_too(tmp_path, dest):
    error = _fails(tmp_path, dest, "r.csv", b"a,b,c\n1,2,3\n4,5\n")
    assert (error.code, error.line) == ("ragged-row", 3)
    assert "has 2 fields, expected 3" in error.message


def test_ragged_row_far_past_the_sample(tmp_path, dest):
    body = b"".join(b"%d,x\n" % i for i in range(60_000))
    error = _fails(tmp_path, dest, "r.csv", b"n,s\n" + body + b"1,2,3\n")
    assert (error.code, error.line) == ("ragged-row", 60_002)


def test_undecodable_utf8_past_the_sample(tmp_path, dest):
    body = "".join(f"{i},名称\n" for i in range(80_000)).encode()
    error = _fails(tmp_path, dest, "u.csv", b"n,s\n" + body + b"5,\xff\xfe\xfa\n")
    assert error.code == "undecodable"
    assert error.line == 80_002
    assert "line 80002" in error.message


def test_undecodable_in_a_transcoded_file(tmp_path, dest):
    body = "".join(f"{i},名称\n" for i in range(20)).encode("utf-16-le")
    broken = "a,b\n".encode("utf-16-le") + body + b"\x00\xd8\x41\x00"  # lone surrogate
    error = _fails(tmp_path, dest, "u.csv", b"\xff\xfe" + broken)
    assert error.code == "undecodable"
    assert error.line == 22
    assert "offset" in error.message


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file(tmp_path, dest, content):
    assert _fails(tmp_path, dest, "e.csv", content).code == "empty-file"


def test_empty_gzip(tmp_path, dest):
    assert _fails(tmp_path, dest, "e.csv.gz", gzip.compress(b"")).code == "empty-file"


@pytest.mark.parametrize(
    "content",
    [b"1,2.5,2020-01-01\n3,4.5,2021-01-01\n", b"110101,708829\n110102,1106214\n"],
)
def test_a_first_line_that_looks_like_data_is_no_header(tmp_path, dest, content):
    error = _fails(tmp_path, dest, "n.csv", content)
    assert (error.code, error.line) == ("no-header", 1)


def test_numeric_column_names_over_text_are_a_header(tmp_path, dest):
    source = tmp_path / "years.csv"
    source.write_text("地区,2019\n东城区,甲\n西城区,乙\n", encoding="utf-8")
    assert ingest(source, dest).row_count == 2


def test_duplicate_column(tmp_path, dest):
    error = _fails(tmp_path, dest, "d.csv", b"a,b,A\n1,2,3\n")
    assert (error.code, error.column) == ("duplicate-column", "A")
    assert "repeats column 1" in error.message


def test_empty_column_name(tmp_path, dest):
    error = _fails(tmp_path, dest, "d.csv", b"a,,c\nx,y,z\n")
    assert (error.code, error.column) == ("empty-column-name", "2")


def test_reserved_column_name(tmp_path, dest):
    assert _fails(tmp_path, dest, "d.csv", b"file_row_number\nx\n").code == "reserved-column"


def test_type_conflict_with_an_override(tmp_path, dest):
    error = _fails(tmp_path, dest, "t.csv", b"id,n\n1,5\n2,abc\n", overrides={"n": "integer"})
    assert error.code == "type-conflict"
    assert (error.line, error.column) == (3, "n")
    assert error.message == "line 3: column 'n' should be integer but has 'abc'"


def test_type_conflict_on_a_date_override(tmp_path, dest):
    error = _fails(tmp_path, dest, "t.csv", "d\n2020-01-01\n2020年1月2日\n".encode(),
                   overrides={"d": "date"})
    assert (error.code, error.line, error.column) == ("type-conflict", 3, "d")


def test_override_of_an_unknown_column(tmp_path, dest):
    error = _fails(tmp_path, dest, "t.csv", b"a\n1\n", overrides={"b": "integer"})
    assert (error.code, error.column) == ("unknown-column", "b")


def test_override_with_an_unknown_type(tmp_path, dest):
    assert _fails(tmp_path, dest, "t.csv", b"a\n1\n", overrides={"a": "money"}).code == "unknown-type"


def test_broken_xlsx(tmp_path, dest):
    assert _fails(tmp_path, dest, "b.xlsx", b"PK\x03\x04 not really a zip").code == "broken-xlsx"


def test_bad_json_names_line_and_column(tmp_path, dest):
    error = _fails(tmp_path, dest, "b.json", b'[\n  {"a": 1},\n  {"a": 2,}\n]\n')
    assert (error.code, error.line) == ("bad-json", 3)
    assert error.message.startswith("line 3 column")


def test_bad_ndjson_line(tmp_path, dest):
    error = _fails(tmp_path, dest, "b.ndjson", b'{"a": 1}\n{"a": 2\n')
    assert (error.code, error.line) == ("bad-json", 2)


def test_json_that_is_not_records(tmp_path, dest):
    assert _fails(tmp_path, dest, "b.json", json.dumps([1, 2]).encode()).code == "bad-json"


@pytest.mark.parametrize(
    ("name", "content"),
    [("doc.pdf", b"%PDF-1.4"), ("x.bin", b"abc")],
)
def test_unsupported_format(tmp_path, dest, name, content):
    assert _fails(tmp_path, dest, name, content).code == "unsupported-format"


def test_broken_legacy_xls(tmp_path, dest):
    assert _fails(tmp_path, dest, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1").code == "broken-xls"


def test_unsupported_declared_format(tmp_path, dest):
    assert _fails(tmp_path, dest, "a.csv", b"a\n1\n", fmt="sav").code == "unsupported-format"


def test_unterminated_quote(tmp_path, dest):
    error = _fails(tmp_path, dest, "q.csv", b'a,b\n1,"open\n2,3\n')
    assert error.code in {"unterminated-quote", "ragged-row"}


def test_missing_source(tmp_path, dest):
    with pytest.raises(IngestError) as caught:
        ingest(tmp_path / "nope.csv", dest)
    assert caught.value.code == "missing-file"


def test_disk_full_after_writing_removes_the_temp(tmp_path, dest, monkeypatch):
    from portal.store import files

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "publish", explode)
    source = tmp_path / "ok.csv"
    source.write_bytes(b"a\n1\n")
    with pytest.raises(IngestError) as caught:
        ingest(source, dest)
    assert caught.value.code == "disk-full"
    assert list(dest.iterdir()) == []


def test_type_conflict_far_past_the_sample(tmp_path, dest):
    body = b"".join(b"%d,%d\n" % (i, i) for i in range(40_000))
    error = _fails(tmp_path, dest, "t.csv", b"id,n\n" + body + b"40000,4e\n",
                   overrides={"n": "integer"})
    assert (error.code, error.line, error.column) == ("type-conflict", 40_002, "n")


def test_a_line_longer_than_duckdbs_default_still_loads(tmp_path, dest):
    """Read with 2 MB lines first (less memory), then with 16 MB lines when one is longer."""
    from portal.store import ingest

    source = tmp_path / "long.csv"
    source.write_text("id,shape\n1," + "x" * (3 * 1024 * 1024) + "\n2,y\n", encoding="utf-8")
    assert ingest(source, dest).row_count == 2


def test_a_line_longer_than_16_mb(tmp_path, dest):
    error = _fails(tmp_path, dest, "huge.csv", b"id,shape\n1," + b"x" * (17 * 1024 * 1024) + b"\n")
    assert error.code == "line-too-long"
