"""Catalog CSV files for tests that deploy variants of a catalog: its rows read, and rows written back."""

from __future__ import annotations

import csv
from pathlib import Path


def catalog_rows(catalog: Path) -> list[tuple[str, str]]:
    """``(product_uid, product_title)`` of each row of ``catalog``."""
    with catalog.open(encoding="utf-8") as fh:
        return [(r["product_uid"], r["product_title"]) for r in csv.DictReader(fh)]


def write_catalog(path: Path, rows: list[tuple[str, str]]) -> Path:
    """``rows`` as a catalog CSV (written by ``csv.writer``, as a user's export would be)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["product_uid", "product_title"])
        writer.writerows(rows)
    return path
