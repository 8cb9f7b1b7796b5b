"""Reading graded judgments and product catalogs from CSV, JSONL or Parquet, with validation.

Every problem is reported with the file, the line (1-based, header = line 1 for CSV; first record =
line 1 for JSONL; row number for Parquet) and what is wrong. With ``on_error="skip"`` bad rows are
counted and reported instead (:class:`LoadReport`), never silently dropped.

Example::

    from trainer.data import load_catalog, load_judgments
    catalog = load_catalog("products.csv")
    judgments = load_judgments("judgments.csv", catalog=catalog)
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from mr_opensearch.core.catalog import MAX_TITLE_CHARS
from mr_opensearch.core.table_file import DataError, RowProblem, decode_utf8, table_rows
from trainer.config import CatalogColumns, JudgmentColumns
from trainer.grades import SCALE_HINT, Grade, GradeMapping, OutOfScaleError, UnknownGradeError, parse_grade

OnError = Literal["raise", "skip"]

skip_rows_hint: ContextVar[str | None] = ContextVar("skip_rows_hint", default=None)
"""How the running command lets a user skip bad rows (``--skip-bad-rows``, a config key), or None
when it cannot: row errors name it only then. Set with :func:`skipping_rows_with`."""


@contextlib.contextmanager
def skipping_rows_with(hint: str | None) -> Iterator[None]:
    token = skip_rows_hint.set(hint)
    try:
        yield
    finally:
        skip_rows_hint.reset(token)


def row_hint(fix: str = "fix or remove the row") -> str:
    """The hint of a row error a loader can skip: the fix, and how to skip when the command can."""
    how = skip_rows_hint.get()
    return f"{fix}, or {how}" if how else fix


@dataclass
class LoadReport:
    """What was read and what was skipped (only non-empty with ``on_error='skip'``)."""

    path: str
    rows_read: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, line: int | None, problem: str, kind: str) -> None:
        self.skipped[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{self.path}:{line}: {problem}")

    def summary(self) -> str:
        if not self.skipped:
            return f"{self.path}: {self.rows_kept} rows"
        parts = ", ".join(f"{n} {kind}" for kind, n in self.skipped.most_common())
        return f"{self.path}: {self.rows_kept} of {self.rows_read} rows kept; skipped {parts}"


def _format_of(path: Path) -> str:
    suffixes = "".join(path.suffixes[-2:]).lower()
    if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
        return "parquet"
    if suffixes.endswith(".jsonl") or suffixes.endswith(".ndjson") or suffixes.endswith(".json"):
        return "jsonl"
    if suffixes.endswith(".csv") or suffixes.endswith(".tsv"):
        return "csv"
    raise DataError(path, None, f"unsupported file type {path.suffix!r}", "use .csv, .tsv, .jsonl or .parquet")


def iter_records(path: Path | str, required: list[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(line, record)`` for each row of a CSV/TSV, JSONL or Parquet file.

    Raises :class:`DataError` when the file is missing, empty, not UTF-8, lacks a required column,
    or (CSV) has a quote that never closes (the csv module would read on to the next quote or the end
    of the file, merging every row in between into one field; no skipping can recover from that).
    A row with the wrong number of fields (CSV) or a line that is not a JSON object (JSONL) is yielded
    as ``{"__error__": problem}`` for the loader to raise or skip. Lines are where the row starts.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "file not found", "check the path (see --data / the config's data section)")
    fmt = _format_of(path)
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:
            raise DataError(path, None, f"cannot read Parquet: {exc}") from None
        _check_columns(path, list(frame.columns), required)
        yield from enumerate(frame.to_dict(orient="records"), start=1)
        return
    header, rows = table_rows(path, decode_utf8(path))
    _check_columns(path, header, required)
    for line, record in rows:
        yield line, {"__error__": str(record)} if isinstance(record, RowProblem) else record


def _check_columns(path: Path, found: list[str], required: list[str]) -> None:
    missing = [c for c in required if c not in found]
    if missing:
        raise DataError(
            path,
            1,
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, found)) or 'none'}",
            "rename the columns or set the column names in the config's data section",
        )


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


@dataclass
class Catalog:
    """Products by id, with the text the encoder sees."""

    ids: list[str]
    texts: list[str]
    report: LoadReport | None = None

    def __post_init__(self) -> None:
        self.position = {pid: i for i, pid in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, product_id: str) -> bool:
        return product_id in self.position

    def text(self, product_id: str) -> str:
        return self.texts[self.position[product_id]]

    def subset(self, product_ids: list[str]) -> Catalog:
        keep = [pid for pid in dict.fromkeys(product_ids) if pid in self.position]
        return Catalog(keep, [self.text(pid) for pid in keep])


def load_catalog(path: Path | str, columns: CatalogColumns | None = None, on_error: OnError = "raise") -> Catalog:
    """Read a product catalog. Ids are strings; the text is the title plus any ``extra_text`` fields."""
    columns = columns or CatalogColumns()
    report = LoadReport(str(path))
    ids: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for line, rec in iter_records(path, [columns.id, columns.title]):
        report.rows_read += 1
        problem, kind = None, ""
        if "__error__" in rec:
            problem, kind = str(rec["__error__"]), "malformed rows"
        else:
            pid = _text(rec.get(columns.id))
            parts = [_text(rec.get(columns.title))] + [_text(rec.get(c)) for c in columns.extra_text]
            text = columns.separator.join(p for p in parts if p)
            if not pid:
                problem, kind = f"empty {columns.id}", "empty ids"
            elif not _text(rec.get(columns.title)):
                problem, kind = f"product {pid!r} has an empty {columns.title}", "empty texts"
            elif len(_text(rec.get(columns.title))) > MAX_TITLE_CHARS:
                problem = (f"product {pid!r} has a {len(_text(rec.get(columns.title)))}-character {columns.title} "
                           f"(limit {MAX_TITLE_CHARS}, as `mros deploy` enforces)")
                kind = "oversized titles"
            elif pid in seen:
                problem, kind = f"duplicate product id {pid!r} (first on line {seen[pid]})", "duplicate ids"
        if problem:
            if on_error == "raise":
                raise DataError(path, line, problem, row_hint())
            report.skip(line, problem, kind)
            continue
        seen[pid] = line
        ids.append(pid)
        texts.append(text)
    if not ids:
        raise DataError(path, None, "no usable products in the catalog")
    report.rows_kept = len(ids)
    return Catalog(ids, texts, report)


@dataclass
class Judgments:
    """Graded (query, product) pairs: a frame with columns ``query``, ``product_id``, ``grade`` (int 0/1/2)."""

    frame: pd.DataFrame
    report: LoadReport | None = None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def queries(self) -> list[str]:
        return list(dict.fromkeys(self.frame["query"]))

    def for_queries(self, queries: list[str] | set[str]) -> Judgments:
        wanted = set(queries)
        return Judgments(self.frame[self.frame["query"].isin(wanted)].reset_index(drop=True))

    def grade_counts(self) -> dict[str, int]:
        counts = self.frame["grade"].value_counts()
        return {g.label: int(counts.get(int(g), 0)) for g in Grade}


def load_judgments(
    path: Path | str,
    catalog: Catalog | None = None,
    columns: JudgmentColumns | None = None,
    mapping: GradeMapping | None = None,
    on_error: OnError = "raise",
) -> Judgments:
    """Read graded judgments; grades come from the ``grade`` column if present, else from ``relevance``
    cut by ``mapping``. With a catalog, every product id must be in it. Repeated (query, product)
    pairs with the same grade are merged; with different grades they are an error."""
    columns = columns or JudgmentColumns()
    mapping = mapping or GradeMapping()
    path = Path(path)
    records = iter_records(path, [columns.query, columns.product_id])
    report = LoadReport(str(path))
    rows: list[tuple[str, str, int]] = []
    first: dict[tuple[str, str], tuple[int, int]] = {}
    grade_column: str | None = None
    for line, rec in records:
        report.rows_read += 1
        if grade_column is None and "__error__" not in rec:
            if columns.grade in rec:
                grade_column = columns.grade
            elif columns.relevance in rec:
                grade_column = columns.relevance
            else:
                raise DataError(
                    path, 1, f"no grade column: expected {columns.grade!r} or {columns.relevance!r}",
                    "add a grade (exact/partial/irrelevant or 0/1/2) or relevance column",
                )
        problem, kind = None, ""
        if "__error__" in rec:
            problem, kind = str(rec["__error__"]), "malformed rows"
        else:
            query = _text(rec.get(columns.query))
            pid = _text(rec.get(columns.product_id))
            try:
                grade = parse_grade(rec.get(grade_column), "grade" if grade_column == columns.grade else "relevance", mapping)
            except OutOfScaleError as exc:
                grade, problem, kind = -1, str(exc), "relevance outside the scale"
            except UnknownGradeError as exc:
                grade, problem, kind = -1, str(exc), "unknown grades"
            if problem is None:
                if not query:
                    problem, kind = "empty query", "empty queries"
                elif not pid:
                    problem, kind = f"empty {columns.product_id}", "empty ids"
                elif catalog is not None and pid not in catalog:
                    problem, kind = f"product {pid!r} is not in the catalog", "ids missing from catalog"
                elif (query, pid) in first:
                    first_line, first_grade = first[(query, pid)]
                    if first_grade == grade:
                        report.skipped["repeated pairs merged"] += 1
                        continue
                    problem = f"pair ({query!r}, {pid!r}) graded {grade} here but {first_grade} on line {first_line}"
                    kind = "conflicting grades"
        if problem:
            if on_error == "raise":
                raise DataError(path, line, problem, SCALE_HINT if kind == "relevance outside the scale" else row_hint())
            report.skip(line, problem, kind)
            continue
        first[(query, pid)] = (line, int(grade))
        rows.append((query, pid, int(grade)))
    if not rows:
        raise DataError(path, None, "no usable judgments")
    report.rows_kept = len(rows)
    frame = pd.DataFrame(rows, columns=["query", "product_id", "grade"])
    return Judgments(frame, report)
