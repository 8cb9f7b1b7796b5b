"""Labeling (query, product) pairs with a trained labeler, in batches, resumably.

Input: a CSV/TSV, JSONL or Parquet file with ``query`` and ``product_uid`` columns (names
configurable), plus the catalog holding the product texts. Every row is validated first: an empty
query or a product missing from the catalog is a :class:`~trainer.data.DataError` naming the file
and line. Repeated pairs are labeled once.

Output: CSV or JSONL with ``query, product_uid, grade, label, p_irrelevant, p_partial, p_exact``
(calibrated probabilities). Rows are appended and flushed after every batch; a rerun with the same
output skips the pairs already in it, so an interrupted run resumes where it stopped. Only a file in
exactly that layout is resumed: any other existing file is refused (a user's judgments must never
gain rows of another schema) unless ``force``, which replaces it.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.safe_write import FORCE_HINT, atomic_write
from trainer.data import Catalog, DataError, iter_records
from trainer.grades import Grade
from trainer.labeler.model import Labeler

OUTPUT_COLUMNS = ["query", "product_uid", "grade", "label", "p_irrelevant", "p_partial", "p_exact"]


def read_pairs(path: Path | str, catalog: Catalog, query_column: str = "query",
               product_column: str = "product_uid") -> list[tuple[str, str]]:
    """Distinct ``(query, product_uid)`` pairs, in file order; raises DataError on a bad row."""
    pairs: dict[tuple[str, str], None] = {}
    for line, rec in iter_records(path, [query_column, product_column]):
        if "__error__" in rec:
            raise DataError(path, line, str(rec["__error__"]), "fix the row")
        query = "" if rec.get(query_column) is None else str(rec.get(query_column)).strip()
        pid = "" if rec.get(product_column) is None else str(rec.get(product_column)).strip()
        if not query:
            raise DataError(path, line, "empty query", "fill in or remove the row")
        if not pid:
            raise DataError(path, line, f"empty {product_column}", "fill in or remove the row")
        if pid not in catalog:
            raise DataError(path, line, f"product {pid!r} is not in the catalog",
                            "pass the catalog that holds every product (--catalog), or remove the row")
        pairs[(query, pid)] = None
    if not pairs:
        raise DataError(path, None, "no pairs to label", "the file needs a header and at least one row")
    return list(pairs)


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise DataError(path, None, f"cannot append to a {suffix or 'suffix-less'} file",
                    "write the labels to a .csv or .jsonl file (append-only formats make the run resumable)")


def _existing_columns(path: Path, fmt: str) -> list[str]:
    """The columns of an existing output: the CSV header, or the keys of the first JSONL record."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        if fmt == "csv":
            return next(csv.reader(fh), [])
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return ["<not JSON>"]
                return list(rec) if isinstance(rec, dict) else ["<not an object>"]
    return []


def check_resumable(path: Path) -> None:
    """Refuse to append to an existing file that ``apply_labeler`` did not write."""
    if not path.exists() or path.stat().st_size == 0:
        return
    columns = _existing_columns(path, output_format(path))
    if columns != OUTPUT_COLUMNS:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise MrosError(f"--out {path} already exists and is not an output of `mros label apply` "
                        f"(its columns: {shown or 'none'}); appending would mix two schemas",
                        FORCE_HINT + " (a `mros label apply` output with the same columns is resumed)")


def done_pairs(path: Path) -> set[tuple[str, str]]:
    """Pairs already present in an existing output file (a torn last line is ignored)."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    done: set[tuple[str, str]] = set()
    if output_format(path) == "jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            done.add((str(rec["query"]), str(rec["product_uid"])))
        return done
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("p_exact") not in (None, ""):
                done.add((row["query"], row["product_uid"]))
    return done


def apply_labeler(labeler: Labeler, pairs: list[tuple[str, str]], catalog: Catalog, out: Path | str,
                  batch_size: int = 256, progress: bool = True, augmentations: tuple[str, ...] = ("identity",),
                  log: Callable[[str], None] = print, force: bool = False) -> dict:
    """Label ``pairs`` into ``out`` (appending, skipping pairs already there); returns counts and speed.
    ``force`` replaces an existing ``out`` instead of resuming it."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise MrosError(f"batch size must be at least 1, got {batch_size}", "pass --batch-size 1 or more", exit_code=2)
    out = Path(out)
    fmt = output_format(out)
    if force and out.exists():
        with atomic_write(out) as tmp:  # replaced in one step: the old file stays whole until then
            tmp.write_text(",".join(OUTPUT_COLUMNS) + "\n" if fmt == "csv" else "", encoding="utf-8")
    check_resumable(out)
    done = done_pairs(out)
    todo = [p for p in pairs if p not in done]
    if done:
        log(f"{out}: {len(done)} pairs already labeled, {len(todo)} to go")
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    if fmt == "csv" and not new_file:
        with open(out, "rb") as fh:  # a run killed mid-line leaves no newline: start a fresh line
            fh.seek(-1, 2)
            torn = fh.read(1) != b"\n"
    else:
        torn = False
    counts = {int(g): 0 for g in Grade}
    start = time.time()
    with open(out, "a", newline="", encoding="utf-8") as fh:
        if torn:
            fh.write("\n")
        writer = csv.writer(fh) if fmt == "csv" else None
        if writer is not None and new_file:
            writer.writerow(OUTPUT_COLUMNS)
        bar = tqdm(total=len(todo), desc="labeling pairs", unit="pair", disable=not progress)
        for b in range(0, len(todo), batch_size):
            chunk = todo[b:b + batch_size]
            probs = labeler.predict_proba([(q, catalog.text(p)) for q, p in chunk], batch_size,
                                          augmentations=augmentations)
            for (query, pid), p in zip(chunk, probs, strict=True):
                grade = int(p.argmax())
                counts[grade] += 1
                row = [query, pid, grade, Grade(grade).label, *(round(float(x), 6) for x in p)]
                if writer is not None:
                    writer.writerow(row)
                else:
                    fh.write(json.dumps(dict(zip(OUTPUT_COLUMNS, row, strict=True)), ensure_ascii=False) + "\n")
            fh.flush()
            bar.update(len(chunk))
        bar.close()
    seconds = time.time() - start
    return {"output": str(out), "pairs": len(pairs), "skipped_already_labeled": len(pairs) - len(todo),
            "labeled": len(todo), "by_grade": {Grade(g).label: n for g, n in counts.items()},
            "seconds": round(seconds, 2), "pairs_per_second": round(len(todo) / seconds, 1) if seconds > 0 else None}
