"""Rows of a CSV, TSV or JSON-lines file, each with the line it starts on (core: standard library only).

The one row reader behind the serving catalog (:mod:`mr_opensearch.core.catalog`), the serving judgments
(:mod:`mr_opensearch.search.judgments`) and training's data files (:mod:`trainer.data`)::

    text = decode_utf8(path)                      # UTF-8 (a byte-order mark is dropped), else DataError
    header, rows = table_rows(path, text)         # format from the extension
    for line, record in rows:
        if isinstance(record, RowProblem):        # one bad row: the caller stops or skips it
            ...
        else:
            ...                                   # {column: value}

Lines are 1-based and name where a row *starts* (the header is line 1 of a CSV; a JSON-lines file
has no header line, its first object names the columns). CRLF line ends read as LF.

What cannot be skipped raises :class:`DataError` (``FILE:LINE: problem`` and what to do): an empty
file, a header that is not one line, a quote that never closes (the csv module would read on to
the next quote, or to the end of the file, merging every row in between into one field), a field
over the csv module's limit, a first JSON line that is not an object. What concerns one row only
(the wrong number of fields, a later line that is not a JSON object) comes back as a
:class:`RowProblem` so that a reader can either stop there or count and skip it.

A quoted field may hold line breaks (``csv.writer`` writes a title with a newline that way). It is
taken for rows merged under a stray quote only when a line inside it would be a whole row of the
file on its own (as many fields as the header, the last one ending the field): ``1,"drill`` /
``2,sink"`` is refused, ``1,"cordless`` / ``drill"`` is one title over two lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from mr_opensearch.core.errors import MrosError

CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_FIELD_CHARS = 100_000
"""Longest field a reader accepts (a longer one is almost always a quote that swallowed the rest of the
file, or a binary blob)."""
UNCLOSED_QUOTE_HINT = ("close the quote (a quote inside a quoted field is written twice: \"\"), or remove "
                       "the stray quote")


class DataError(MrosError):
    """A problem in an input data file, located by file and line (``FILE:LINE: problem``)."""

    def __init__(self, path: Path | str, line: int | None, problem: str, hint: str | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}", hint or ("fix or remove the row" if line else "fix the file"))
        self.path = str(path)
        self.line = line
        self.problem = problem


class RowProblem(str):
    """What is wrong with one row (a ``str``, with what to do in :attr:`hint`); the row itself is lost."""

    hint: str = "fix or remove the row"

    @classmethod
    def of(cls, problem: str, hint: str = "fix or remove the row") -> RowProblem:
        made = cls(problem)
        made.hint = hint
        return made


Record = dict[str, object]


def table_format(path: Path) -> str:
    """``"csv"`` (``.csv``, ``.tsv``) or ``"jsonl"`` (``.jsonl``, ``.ndjson``, ``.json``) from the file's
    extension, or ``""`` for any other (the caller says which formats it reads)."""
    suffix = path.suffix.lower()
    if suffix in CSV_DELIMITERS:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return ""


def decode_utf8(path: Path, data: bytes | None = None) -> str:
    """The file's text; a byte-order mark is dropped. Not UTF-8: :class:`DataError` at the line of the
    first bad byte. An empty (or blank) file: :class:`DataError`."""
    data = path.read_bytes() if data is None else data
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, line, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                        "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`)") from None
    if not text.strip():
        raise DataError(path, None, "the file is empty", "the file needs a header and at least one row")
    return text


def table_rows(path: Path, text: str) -> tuple[list[str], Iterator[tuple[int, Record | RowProblem]]]:
    """``(header, rows)`` of a CSV/TSV or JSON-lines text (see the module docstring); header names are
    stripped of spaces. The header is read (and checked) at once, the rows lazily."""
    if table_format(path) == "jsonl":
        return _jsonl(path, text)
    return _csv(path, text, CSV_DELIMITERS.get(path.suffix.lower(), ","))


def _csv(path: Path, text: str, delimiter: str) -> tuple[list[str], Iterator[tuple[int, Record | RowProblem]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DataError(path, 1, f"malformed CSV header ({exc})", UNCLOSED_QUOTE_HINT) from None
    if reader.line_num > 1:
        raise DataError(path, 1, f"the header runs over {reader.line_num} lines: a quote opened on line 1 never "
                        "closes", UNCLOSED_QUOTE_HINT)
    header = [h.strip() for h in header]

    def rows() -> Iterator[tuple[int, Record | RowProblem]]:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise DataError(path, start, f"a field longer than {csv.field_size_limit()} characters (limit "
                                    f"{MAX_FIELD_CHARS})", "check for a quote that never closes; shorten or drop "
                                    "the field") from None
                raise DataError(path, start, f"an unclosed quote: a quoted field opened on this row does not close "
                                f"before line {reader.line_num} ({exc})", UNCLOSED_QUOTE_HINT) from None
            if reader.line_num > start and _merges_rows(row, delimiter, len(header)):
                raise DataError(path, start, f"an unclosed quote: a quoted field opened on this line runs over "
                                f"{reader.line_num - start + 1} lines (to line {reader.line_num}), merging the "
                                "rows in between", UNCLOSED_QUOTE_HINT)
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                yield start, RowProblem.of(f"{len(row)} fields, the header has {len(header)} ({', '.join(header)})",
                                           "quote fields that contain the delimiter, or fix the row")
                continue
            yield start, dict(zip(header, row, strict=True))

    return header, rows()


def _merges_rows(row: list[str], delimiter: str, width: int) -> bool:
    """Whether a row read over several lines holds, inside a quoted field, a line that is a whole row of
    the file on its own: rows merged under a stray quote rather than a field with a line break."""
    for cell in row:
        for line in cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]:
            if len(next(csv.reader([line], delimiter=delimiter))) >= width > 1 or (width == 1 and line.strip()):
                return True
    return False


def _jsonl(path: Path, text: str) -> tuple[list[str], Iterator[tuple[int, Record | RowProblem]]]:
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    first_number, first_line = lines[0]
    try:
        first = json.loads(first_line)
    except json.JSONDecodeError as exc:
        raise DataError(path, first_number, f"not valid JSON ({exc.msg}); the first record names the columns") from None
    if not isinstance(first, dict):
        raise DataError(path, first_number, "expected a JSON object per line; the first record names the columns")
    header = [str(k).strip() for k in first]

    def rows() -> Iterator[tuple[int, Record | RowProblem]]:
        yield first_number, first
        for number, line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RowProblem.of(f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                yield number, RowProblem.of("expected a JSON object per line")
                continue
            yield number, record

    return header, rows()
