"""Reading label files and writing frames for the labeler commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainer.data import Catalog, DataError, JudgmentColumns, load_judgments
from trainer.grades import GradeMapping


def load_labels(path: Path | str, catalog: Catalog | None = None, mapping: GradeMapping | None = None) -> pd.DataFrame:
    """Graded pairs as a frame ``query, product_uid, grade`` (grade names, 0/1/2 or raw relevance;
    validated by :func:`trainer.data.load_judgments`: unknown grades and products missing from the
    catalog are errors naming the file and line)."""
    judgments = load_judgments(path, catalog, JudgmentColumns(), mapping)
    return judgments.frame.rename(columns={"product_id": "product_uid"})


def write_frame(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write CSV, JSONL or Parquet by the file's suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise DataError(path, None, f"unsupported output type {path.suffix!r}", "use .csv, .tsv, .jsonl or .parquet")
    return path
