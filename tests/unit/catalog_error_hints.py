"""The hint each catalog error must carry (mr_opensearch/catalog.py), keyed by a fragment of its message."""

from __future__ import annotations

HINTS = {
    "the file is empty": "pass a catalog with a header and one row per product",
    "no products in the catalog": "add one row per product",
    "no id column": "name the column with --id-column or rename it",
    "no title column": "name the column with --title-column or rename it",
    "duplicate product id": "keep one row per product",
    "has an empty product_title": "fix the file and rerun",
    "empty product_uid": "fix the file and rerun",
    "fields, the header has": "quote fields that contain commas",
    "malformed CSV row": "close the quote or remove the stray quote character",
    "a quoted field opened here spans": "close the quote, or remove the stray quote character",
    "-character title": "shorten it: the model reads at most 512 tokens",
    "not UTF-8": "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
}


def expected_hint(message: str) -> str:
    found = [hint for fragment, hint in HINTS.items() if fragment in message]
    assert len(found) == 1, f"no single expected hint for {message!r}"
    return found[0]
