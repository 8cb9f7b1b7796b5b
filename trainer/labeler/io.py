"""Reading label files and writing frames for the labeler commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mr_opensearch.core.safe_write import atomic_write
from trainer.config import JudgmentColumns
from trainer.data import Catalog, DataError, load_judgments
from trainer.grades import GradeMapping


def load_labels(path: Path | str, catalog: Catalog | None = None, mapping: GradeMapping | None = None) -> pd.DataFrame:
    """Graded pairs as a frame ``query, product_uid, grade`` (grade names, 0/1/2 or raw relevance;
    validated by :func:`trainer.data.load_judgments`: unknown grades and products missing from the
    catalog are errors naming the file and line)."""
    judgments = load_judgments(path, catalog, JudgmentColumns(), mapping)
    return judgments.frame.rename(columns={"product_id": "product_uid"})


def write_frame(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write CSV, JSONL or Parquet by the file's suffix, into a temporary file moved into place
    (:func:`mr_opensearch.core.safe_write.atomic_write`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".jsonl", ".ndjson", ".csv", ".tsv"):
        raise DataError(path, None, f"unsupported output type {path.suffix!r}", "use .csv, .tsv, .jsonl or .parquet")
    with atomic_write(path) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        elif suffix in (".jsonl", ".ndjson"):
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
    return path
