"""The catalog a deploy indexes, read with the standard library (no pandas on the serving path).

Columns: the product id (``product_uid``, ``product_id`` or ``id``), the title (``product_title`` or
``title``) and any extra text columns named in ``text_fields``. The text the model embeds is built
exactly as training builds it (``trainer.data.load_catalog``): the stripped title and the non-empty
stripped extra fields joined with ``" | "``.

Every problem is a :class:`MrosError` of the form ``FILE:LINE: problem`` with what to do: a missing
or non-UTF-8 file, no header or no rows, missing columns, a row with the wrong number of fields or a
quote that never closes, an empty id or title, a duplicate id, an oversized title.
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


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, strict=True)
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
            raise _fail(path, start, f"malformed CSV row ({exc})", "close the quote or remove the stray quote character") from None
        if reader.line_num - start > 0 and any("\n" in cell or "\r" in cell for cell in row):
            raise _fail(path, start, f"a quoted field opened here spans {reader.line_num - start + 1} lines "
                        "(an unclosed quote merges rows)", "close the quote, or remove the stray quote character")
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise _fail(path, start, f"{len(row)} fields, the header has {len(header)}",
                        "quote fields that contain commas")
        yield start, dict(zip(header, row, strict=True))


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
        yield number, {k: "" if v is None else str(v) for k, v in record.items()}


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
    rows = _jsonl_rows(path, text) if path.suffix.lower() in (".jsonl", ".ndjson") else _csv_rows(path, text)
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
