"""The hint each catalog error must carry (mr_opensearch/core/catalog.py and the row reader it uses,
mr_opensearch/core/table_file.py), keyed by a fragment of its message."""

from __future__ import annotations

HINTS = {
    "the file is empty": "the file needs a header and at least one row",
    "no products in the catalog": "add one row per product",
    "no id column": "rename it to one of product_uid, product_id, id",
    "no title column": "rename it to one of product_title, title",
    "duplicate product id": "keep one row per product",
    "has an empty product_title": "fix the file and rerun",
    "empty product_uid": "fix the file and rerun",
    "fields, the header has": "quote fields that contain the delimiter, or fix the row",
    "an unclosed quote": "close the quote (a quote inside a quoted field is written twice: \"\"), or remove the "
                         "stray quote",
    "-character title": "shorten it: the model reads at most 512 tokens",
    "not UTF-8": "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`)",
}


def expected_hint(message: str) -> str:
    found = [hint for fragment, hint in HINTS.items() if fragment in message]
    assert len(found) == 1, f"no single expected hint for {message!r}"
    return found[0]
