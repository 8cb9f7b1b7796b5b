"""Graded judgments for ``mros eval --alias``, read with the standard library (no pandas on the serving path).

A CSV, TSV or JSON-lines file (:mod:`mr_opensearch.core.table_file`). Columns: ``query``, the product id (``product_uid`` or ``product_id``) and either ``relevance`` (raw
rater means on a 1–3 scale, cut at ``partial`` >= 2.0 and ``exact`` >= 2.67, as in training) or
``grade`` (0/1/2, irrelevant/partial/exact, or the ESCI names and letters training accepts), cut by
:class:`mr_opensearch.core.grading.GradeMapping`. ``split`` keeps the queries of one split of the
project's query split (``"{seed}:{query}"`` hashed with SHA-1 into [0, 1): test below 0.1, validation
below 0.2, as ``trainer.splits`` does), so ``--tune`` runs on validation and reports on test.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.grading import GRADE_NAMES, GradeMapping, parse_grade_name
from mr_opensearch.core.table_file import DataError, RowProblem, decode_utf8, table_rows

__all__ = ["GRADE_NAMES", "ServingJudgments", "Split", "read_judgments", "split_of"]
Split = Literal["all", "train", "validation", "test"]


def split_of(query: str, seed: int = 13, validation: float = 0.1, test: float = 0.1) -> str:
    digest = hashlib.sha1(f"{seed}:{query}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + validation:
        return "validation"
    return "train"


@dataclass
class ServingJudgments:
    queries: list[str] = field(default_factory=list)
    graded: dict[str, dict[str, int]] = field(default_factory=dict)
    path: str | None = None

    def __len__(self) -> int:
        return sum(len(g) for g in self.graded.values())


def _grade(value: str, column: str, path: Path, line: int, mapping: GradeMapping) -> int:
    try:
        return parse_grade_name(value) if column == "grade" else mapping.grade_of_text(value)
    except MrosError as exc:
        raise MrosError(f"{path}:{line}: {exc.message}", exc.hint) from None


def read_judgments(path: Path | str, mapping: GradeMapping | None = None, *, split: Split = "all",
                   seed: int = 13) -> ServingJudgments:
    """Read a judgments CSV; ``mapping`` cuts raw relevance (default 1–3 scale, 2.0 / 2.67)."""
    mapping = mapping or GradeMapping()
    path = Path(path)
    if not path.exists():
        raise MrosError(f"judgments file {path} not found", "pass an existing judgments file (CSV, TSV or JSON lines: query, product_uid, relevance or grade)")
    header, rows = table_rows(path, decode_utf8(path))
    id_col = next((c for c in ("product_uid", "product_id") if c in header), None)
    grade_col = next((c for c in ("grade", "relevance") if c in header), None)
    if "query" not in header or id_col is None or grade_col is None:
        raise DataError(path, 1, f"needs columns query, product_uid (or product_id) and relevance (or grade); "
                        f"found {', '.join(header)}", "rename the columns")
    out = ServingJudgments(path=str(path))
    first_line: dict[tuple[str, str], int] = {}
    for line, row in rows:
        if isinstance(row, RowProblem):
            raise DataError(path, line, str(row), row.hint)
        query = str(row.get("query") or "").strip()
        pid = str(row.get(id_col) or "").strip()
        if not query or not pid:
            raise DataError(path, line, "empty query or product id", "fix or remove the row")
        grade = _grade(str(row.get(grade_col) or ""), grade_col, path, line, mapping)
        if split != "all" and split_of(query, seed) != split:
            continue
        if query not in out.graded:
            out.queries.append(query)
            out.graded[query] = {}
        previous = out.graded[query].get(pid)
        if previous is not None and previous != grade:
            raise DataError(path, line, f"pair ({query!r}, {pid!r}) graded {grade} here but {previous} "
                            f"on line {first_line[(query, pid)]}", "keep one grade per (query, product) pair")
        first_line.setdefault((query, pid), line)
        out.graded[query][pid] = grade
    if not out.queries:
        raise MrosError(f"{path}: no judged queries{'' if split == 'all' else f' in the {split} split'}",
                        "pass a judgments file with rows" + ("" if split == "all" else ", or judgments of other queries"))
    return out
