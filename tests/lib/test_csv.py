"""lib.csv: one streamed, formula-safe CSV writer for every export."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from odportal.lib.csv import ROWS_PER_CHUNK, attachment, csv_download, csv_lines, download_name


def _parse(lines) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(lines))))


def test_free_text_that_starts_like_a_formula_gets_a_leading_quote():
    starts = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]
    rows = [(text, text) for text in starts]
    parsed = _parse(csv_lines(("note", "code"), rows, text_columns=("note",)))
    assert [r[0] for r in parsed[1:]] == ["'" + text for text in starts]
    assert [r[1] for r in parsed[1:]] == starts  # only the named columns are free text


def test_plain_text_numbers_and_empty_cells_are_written_as_they_are():
    rows = [('O\'Brien, "Jr"', Decimal("-12.50"), ""), ("", 3, "a=b")]
    parsed = _parse(csv_lines(("name", "amount", "other"), rows, text_columns=("name", "other")))
    assert parsed == [
        ["name", "amount", "other"],
        ['O\'Brien, "Jr"', "-12.50", ""],
        ["", "3", "a=b"],
    ]


def test_rows_stream_in_chunks_after_the_header():
    rows = ((i, f"name {i}") for i in range(ROWS_PER_CHUNK + 1))
    chunks = list(csv_lines(("n", "name"), rows, text_columns=("name",)))
    assert chunks[0] == "n,name\r\n"
    assert [c.count("\r\n") for c in chunks[1:]] == [ROWS_PER_CHUNK, 1]


def test_a_text_column_missing_from_the_header_fails_before_streaming():
    with pytest.raises(ValueError, match="nmae"):
        csv_lines(("name",), [], text_columns=("nmae",))


def test_download_is_a_streamed_attachment():
    response = csv_download("x.csv", ("name",), [("=cmd",)], text_columns=("name",))
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    # A UTF-8 byte-order mark first, so Excel reads the file as UTF-8.
    assert b"".join(response.streaming_content) == b"\xef\xbb\xbfname\r\n'=cmd\r\n"


def test_files_are_named_after_what_they_hold_and_survive_non_ascii_names():
    assert download_name("aging", "Smile Dental, Inc.", day=date(2026, 12, 1)) == (
        "aging-smile-dental-inc-2026-12-01.csv"
    )
    name = download_name("audit", "Zahnärzte Müller")
    assert name == "audit-zahnärzte-müller.csv"
    header = attachment(name)
    assert header.startswith('attachment; filename="audit-zahn_rzte-m_ller.csv"; filename*=UTF-8')
    assert "zahn%C3%A4rzte" in header
    assert download_name("", "///") == "export.csv"
