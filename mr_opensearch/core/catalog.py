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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import sha256_of_chunks
from mr_opensearch.core.table_file import (
    CSV_DELIMITERS,
    JSONL_SUFFIXES,
    MAX_FIELD_CHARS,
    DataError,
    RowProblem,
    decode_utf8,
    table_format,
    table_rows,
)

__all__ = ["MAX_FIELD_CHARS", "ServingCatalog", "catalog_fingerprint", "read_catalog"]

ID_COLUMNS = ("product_uid", "product_id", "id")
TITLE_COLUMNS = ("product_title", "title")
SEPARATOR = " | "
MAX_TITLE_CHARS = 10_000
MAX_ID_BYTES = 512
"""OpenSearch refuses a document ``_id`` longer than 512 bytes (UTF-8)."""


def catalog_fingerprint(ids: Sequence[str], texts: Sequence[str]) -> str:
    """The content hash of a catalog: its ids and embedded texts, in order."""
    return sha256_of_chunks(chunk for pid, text in zip(ids, texts, strict=True)
                            for chunk in (pid.encode(), b"\x1f", text.encode(), b"\x1e"))


def _fail(path: Path, line: int | None, problem: str, hint: str = "fix the file and rerun") -> MrosError:
    return DataError(path, line or None, problem, hint)


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
    return decode_utf8(path)


def _format(path: Path) -> str:
    """``"csv"`` or ``"jsonl"`` from the file's extension; anything else is a usage error."""
    found = table_format(path)
    if found:
        return found
    suffix = path.suffix.lower()
    known = ", ".join([*CSV_DELIMITERS, *JSONL_SUFFIXES])
    if suffix in (".parquet", ".pq"):
        raise MrosError(f"catalog {path}: Parquet is not read on the serving path (no pandas there)",
                        "convert it to CSV or JSON lines (e.g. `pandas.read_parquet(p).to_csv(...)`)", exit_code=2)
    raise MrosError(f"catalog {path}: unknown file type {suffix or '(no extension)'!r} (reads {known})",
                    "save the catalog as CSV (.csv), TSV (.tsv) or JSON lines (.jsonl)", exit_code=2)


def _records(path: Path, text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows as strings (JSON values too: null is empty); a bad row stops the read."""
    header, rows = table_rows(path, text)

    def checked() -> Iterator[tuple[int, dict[str, str]]]:
        for line, record in rows:
            if isinstance(record, RowProblem):
                raise DataError(path, line, str(record), record.hint)
            values = {str(k): "" if v is None else str(v) for k, v in record.items()}
            for name, value in values.items():
                if len(value) > MAX_FIELD_CHARS:
                    raise DataError(path, line, f"field {name!r} has {len(value)} characters (limit "
                                    f"{MAX_FIELD_CHARS})", "check for a quote that never closes; shorten or drop "
                                    "the field")
            yield line, values

    return header, checked()


def _pick(path: Path, header: list[str], given: str | None, choices: Sequence[str], what: str) -> str:
    options = (given,) if given else choices
    for name in options:
        if name in header:
            return name
    raise _fail(path, 1, f"no {what} column (looked for {', '.join(options)}; found {', '.join(header) or 'none'})",
                f"rename it to one of {', '.join(options)}")


def _check_id(path: Path, line: int, pid: str) -> None:
    """What the cluster would refuse about a product id, refused before anything is written: more than
    :data:`MAX_ID_BYTES` bytes, or a control character (an id is sent in URLs and shown in every listing)."""
    size = len(pid.encode("utf-8"))
    if size > MAX_ID_BYTES:
        raise _fail(path, line, f"product id {pid[:40]!r}… is {size} bytes long (OpenSearch's limit for a document "
                    f"id is {MAX_ID_BYTES} bytes)", "shorten the ids (e.g. a hash of the long key), then rerun")
    bad = sorted({f"U+{ord(c):04X}" for c in pid if ord(c) < 32 or ord(c) == 127})
    if bad:
        raise _fail(path, line, f"product id {pid[:40]!r} holds control characters ({', '.join(bad)})",
                    "remove them from the id column")


def read_catalog(path: Path | str, *, id_column: str | None = None, title_column: str | None = None,
                 text_fields: Sequence[str] = ()) -> ServingCatalog:
    path = Path(path)
    text = _text(path)
    header, rows = _records(path, text)
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
        _check_id(path, line, pid)
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
