"""Smaller, still representative data for quick runs (``mros run --quick``).

* queries: a seeded sample of the judged queries, taken *before* the query-level split, so every
  split shrinks in proportion and no query moves between splits;
* catalog: every product judged for a kept query, plus a seeded random sample of the other
  products up to ``max_catalog_products`` (full-corpus retrieval needs distractors, not only
  judged products).

Sampling hashes the seed with the query / product id, so a subset stays the same when rows are
added or reordered.
"""

from __future__ import annotations

from mr_opensearch.core.hashing import sha256_of_chunks
from trainer.data import Catalog, Judgments


def _rank(seed: int, key: str) -> str:
    return sha256_of_chunks([f"{seed}\x1f{key}".encode()])


def sample_queries(judgments: Judgments, max_queries: int, seed: int = 13) -> Judgments:
    """At most ``max_queries`` queries with all their judgments."""
    queries = judgments.queries
    if len(queries) <= max_queries:
        return judgments
    keep = sorted(queries, key=lambda q: _rank(seed, q))[:max_queries]
    return judgments.for_queries(keep)


def restrict_catalog(catalog: Catalog, judgments: Judgments, max_products: int, seed: int = 13) -> Catalog:
    """The judged products of ``judgments`` plus random others, at most ``max_products`` in all
    (never fewer than the judged ones)."""
    if len(catalog) <= max_products:
        return catalog
    judged = set(judgments.frame["product_id"])
    others = sorted((pid for pid in catalog.ids if pid not in judged), key=lambda p: _rank(seed, p))
    keep = judged | set(others[: max(0, max_products - len(judged))])
    ids = [pid for pid in catalog.ids if pid in keep]
    return Catalog(ids, [catalog.text(pid) for pid in ids], catalog.report)
