"""The grade guideline and how a (query, product) pair becomes the labeler's input text.

The guideline is written into every input, as in the paper's policy-aligned labeler: the model reads
the same definitions the human raters followed. Two lengths are provided:

- ``short`` (default for the cross-encoder, whose 64-128 token window is precious): one line.
- ``full`` (for instruction-tuned causal LMs such as SmolLM2): the three definitions with examples.
- ``none``: no guideline (for ablations).

The encoder input is a text pair ``(guideline + query, product)``, so a BERT-style tokenizer puts
``[SEP]`` between query and product and truncates the product first when the window is full.
"""

from __future__ import annotations

from typing import Literal

GuidelineStyle = Literal["short", "full", "none"]

SHORT_GUIDELINE = "exact: what the query asks for; partial: a substitute; irrelevant: neither."

FULL_GUIDELINE = (
    "You grade how relevant a product is to a shopper's search query, on three levels.\n"
    "exact (2): the product is what the query asks for (type, brand, size and attributes match).\n"
    "partial (1): a substitute, a close variant, a compatible accessory, or a match on some attributes only.\n"
    "irrelevant (0): the product does not satisfy the query.\n"
)


def guideline_text(style: GuidelineStyle) -> str:
    return {"short": SHORT_GUIDELINE, "full": FULL_GUIDELINE, "none": ""}[style]


def format_pair(query: str, product: str, style: GuidelineStyle) -> tuple[str, str]:
    """The ``(first, second)`` segments the tokenizer encodes as a pair.

    >>> format_pair("cordless drill", "DEWALT 20V drill", "none")
    ('query: cordless drill', 'product: DEWALT 20V drill')
    """
    guide = guideline_text(style)
    first = f"{guide}\nquery: {query}" if guide else f"query: {query}"
    return first.strip(), f"product: {product}"
