"""The catalog a deploy indexes, read with the standard library (no pandas on the serving path).

Columns: the product id (``product_uid``, ``product_id`` or ``id``), the title (``product_title`` or
``title``) and any extra text columns named in ``text_fields``. The text the model embeds is built
exactly as training builds it (``trainer.data.load_catalog``): the stripped title and the non-empty
stripped extra fields joined with ``" | "``.

Formats, by extension (as training's reader): ``.csv``, ``.tsv`` (tab-separated), ``.jsonl`` /
``.ndjson`` / ``.json`` (one JSON object per line). Any other extension (``.parquet`` included: no
pandas on the serving path) is a usage error (exit 2). A UTF-8 byte-order mark and CRLF line ends
are read as if they were not there.

Limits: a title of at most :data:`MAX_TITLE_CHARS` (10,000) characters (the model reads at most 512
tokens), and any field of at most :data:`MAX_FIELD_CHARS` (100,000) characters (a larger one is
almost always a quote that swallowed the rest of the file, or a binary blob).

Every problem is a :class:`MrosError` of the form ``FILE:LINE: problem`` with what to do: a missing
or non-UTF-8 file, no header or no rows, missing columns, a row with the wrong number of fields or a
quote that never closes (the standard csv reader would silently merge the rows after it), an empty
id or title, a duplicate id, an oversized title or field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mr_opensearch.errors import MrosError
from mr_opensearch.vector_index import catalog_fingerprint

__all__ = ["ServingCatalog", "catalog_fingerprint", "read_catalog"]

ID_COLUMNS = ("product_uid", "product_id", "id")
TITLE_COLUMNS = ("product_title", "title")
SEPARATOR = " | "
MAX_TITLE_CHARS = 10_000
MAX_FIELD_CHARS = 100_000
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def _fail(path: Path, line: int | None, problem: str, hint: str = "fix the file and rerun") -> MrosError:
    where = f"{path}:{line}" if line else str(path)
    return MrosError(f"{where}: {problem}", hint)


@dataclass
class ServingCatalog:
    ids: list[str]
    titles: list[str]
    extra: dict[str, list[str]] = field(default_factory=dict)
    path: str | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def embedding_texts(self, fields: Sequence[str] = ("title",)) -> list[str]:
        """What the model embeds: the title and the named extra fields, joined as in training."""
        out = []
        for i, title in enumerate(self.titles):
            parts = [title] + [self.extra[f][i] for f in fields if f != "title"]
            out.append(SEPARATOR.join(p for p in parts if p))
        return out

    def fingerprint(self, fields: Sequence[str] = ("title",)) -> str:
        """:func:`catalog_fingerprint` of the ids and the texts embedded with ``fields``."""
        return catalog_fingerprint(self.ids, self.embedding_texts(fields))


def _text(path: Path) -> str:
    if not path.exists():
        raise MrosError(f"catalog {path} not found", "pass an existing --catalog file (CSV or JSONL)")
    if path.is_dir():
        raise MrosError(f"catalog {path} is a directory", "pass the catalog file itself, e.g. DIR/products.csv")
    _format(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                    "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None
    if not text.strip():
        raise _fail(path, None, "the file is empty", "pass a catalog with a header and one row per product")
    return text


def _format(path: Path) -> str:
    """``"csv"`` or ``"jsonl"`` from the file's extension; anything else is a usage error."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    known = ", ".join([*CSV_SUFFIXES, *JSONL_SUFFIXES])
    if suffix in (".parquet", ".pq"):
        raise MrosError(f"catalog {path}: Parquet is not read on the serving path (no pandas there)",
                        "convert it to CSV or JSON lines (e.g. `pandas.read_parquet(p).to_csv(...)`)", exit_code=2)
    raise MrosError(f"catalog {path}: unknown file type {suffix or '(no extension)'!r} (reads {known})",
                    "save the catalog as CSV (.csv), TSV (.tsv) or JSON lines (.jsonl)", exit_code=2)


def _oversized(path: Path, line: int, record: dict[str, str]) -> None:
    for name, value in record.items():
        if len(value) > MAX_FIELD_CHARS:
            raise _fail(path, line, f"field {name!r} has {len(value)} characters (limit {MAX_FIELD_CHARS})",
                        "check for a quote that never closes; shorten or drop the field")


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, strict=True, delimiter=CSV_SUFFIXES[path.suffix.lower()])
    try:
        header = next(reader)
    except csv.Error as exc:
        raise _fail(path, 1, f"unreadable header ({exc})") from None
    header = [h.strip() for h in header]
    yield 0, {"__header__": json.dumps(header)}
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _fail(path, start, f"a field longer than {csv.field_size_limit()} characters (limit "
                            f"{MAX_FIELD_CHARS})", "check for a quote that never closes; shorten or drop the field"
                            ) from None
            raise _fail(path, start, f"malformed CSV row ({exc})", "close the quote or remove the stray quote character") from None
        if reader.line_num - start > 0 and any("\n" in cell or "\r" in cell for cell in row):
            raise _fail(path, start, f"a quoted field opened here spans {reader.line_num - start + 1} lines "
                        "(an unclosed quote merges rows)", "close the quote, or remove the stray quote character")
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise _fail(path, start, f"{len(row)} fields, the header has {len(header)}",
                        "quote fields that contain commas")
        record = dict(zip(header, row, strict=True))
        _oversized(path, start, record)
        yield start, record


def _jsonl_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    header: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(path, number, f"not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise _fail(path, number, "expected a JSON object per line")
        if header is None:
            header = list(record)
            yield 0, {"__header__": json.dumps(header)}
        values = {k: "" if v is None else str(v) for k, v in record.items()}
        _oversized(path, number, values)
        yield number, values


def _pick(path: Path, header: list[str], given: str | None, choices: Sequence[str], what: str) -> str:
    options = (given,) if given else choices
    for name in options:
        if name in header:
            return name
    raise _fail(path, 1, f"no {what} column (looked for {', '.join(options)}; found {', '.join(header) or 'none'})",
                f"name the column with --{what.replace(' ', '-')}-column or rename it")


def read_catalog(path: Path | str, *, id_column: str | None = None, title_column: str | None = None,
                 text_fields: Sequence[str] = ()) -> ServingCatalog:
    path = Path(path)
    text = _text(path)
    rows = _jsonl_rows(path, text) if _format(path) == "jsonl" else _csv_rows(path, text)
    _, first = next(rows)
    header = json.loads(first["__header__"])
    id_col = _pick(path, header, id_column, ID_COLUMNS, "id")
    title_col = _pick(path, header, title_column, TITLE_COLUMNS, "title")
    for name in text_fields:
        if name not in header:
            raise _fail(path, 1, f"no column {name!r} for --text-field (found {', '.join(header)})",
                        "name an existing column")
    ids: list[str] = []
    titles: list[str] = []
    extra: dict[str, list[str]] = {name: [] for name in text_fields if name != "title"}
    seen: dict[str, int] = {}
    for line, record in rows:
        pid = (record.get(id_col) or "").strip()
        title = (record.get(title_col) or "").strip()
        if not pid:
            raise _fail(path, line, f"empty {id_col}")
        if not title:
            raise _fail(path, line, f"product {pid!r} has an empty {title_col}")
        if len(title) > MAX_TITLE_CHARS:
            raise _fail(path, line, f"product {pid!r} has a {len(title)}-character title (limit {MAX_TITLE_CHARS})",
                        "shorten it: the model reads at most 512 tokens")
        if pid in seen:
            raise _fail(path, line, f"duplicate product id {pid!r} (first on line {seen[pid]})",
                        "keep one row per product")
        seen[pid] = line
        ids.append(pid)
        titles.append(title)
        for name in extra:
            extra[name].append((record.get(name) or "").strip())
    if not ids:
        raise _fail(path, None, "no products in the catalog (only a header)", "add one row per product")
    return ServingCatalog(ids=ids, titles=titles, extra=extra, path=str(path))
