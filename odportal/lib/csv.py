"""Streamed CSV downloads, safe to open in a spreadsheet (no CSV formula injection).

Files start with a UTF-8 byte-order mark: without it Excel reads UTF-8 as the system's ANSI
code page and "Müller" arrives as "MÃ¼ller". They are named after what they hold
(``download_name``), not an id.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date
from itertools import batched
from urllib.parse import quote

from django.http import StreamingHttpResponse
from django.utils.text import slugify

BOM = "\ufeff"

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 2000  # one write per row would make a 100k-row export 100k tiny chunks


class _Echo:
    """A file-like object whose write returns the line, so csv.writer formats without a buffer."""

    def write(self, value: str) -> str:
        return value


def _formula_safe(rows: Iterable[Sequence], text_columns: tuple[int, ...]) -> Iterator[Sequence]:
    """Rows whose free-text cells starting like a formula get a leading quote (copied only then)."""
    for row in rows:
        for i in text_columns:
            value = row[i]
            if value[:1] in FORMULA_STARTS:
                row = list(row)
                row[i] = "'" + value
        yield row


def _indexes(header: Sequence[str], names: Collection[str]) -> tuple[int, ...]:
    unknown = set(names) - set(header)
    if unknown:
        raise ValueError(f"text columns not in the header: {sorted(unknown)}")
    return tuple(i for i, name in enumerate(header) if name in names)


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence], *, text_columns: Collection[str] = ()
) -> Iterator[str]:
    """The header, then the rows as CSV text in chunks. ``text_columns`` names the free-text
    cells (typed by users or offices): those are neutralised against spreadsheet formulas."""
    indexes = _indexes(header, text_columns)  # eager: a wrong name fails in the view, not mid-file
    return _lines(header, _formula_safe(rows, indexes) if indexes else rows)


def _lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for chunk in batched(rows, ROWS_PER_CHUNK):
        yield "".join(map(writer.writerow, chunk))


def csv_download(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    text_columns: Collection[str] = (),
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` attachment of the header and rows (see ``csv_lines``), with a
    byte-order mark first."""
    lines = csv_lines(header, rows, text_columns=text_columns)
    response = StreamingHttpResponse(_with_bom(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = attachment(filename)
    return response


def _with_bom(lines: Iterator[str]) -> Iterator[str]:
    yield BOM
    yield from lines


def download_name(*parts: object, day: date | None = None, ext: str = "csv") -> str:
    """``aging-smile-dental-2026-12-01.csv``: the parts (names of what the file holds) and a
    date, each made filename-safe; Unicode names keep their letters (see ``attachment``)."""
    words = [slugify(str(p), allow_unicode=True) for p in parts if str(p)]
    if day is not None:
        words.append(day.isoformat())
    return f"{'-'.join(w for w in words if w) or 'export'}.{ext}"


def attachment(filename: str) -> str:
    """A Content-Disposition value: an ASCII ``filename`` for old clients and the UTF-8
    ``filename*`` (RFC 6266) so a name like "Zahnärzte" survives."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
