"""Query-level train / validation / test splits.

A query and all its judgments land in exactly one split. Assignment hashes ``"{seed}:{query}"``
(SHA-1) into [0, 1), so it is deterministic for a seed, independent of row order, and stable when
queries are added to the data (existing queries keep their split).
"""

from __future__ import annotations

import hashlib

from trainer.config import SplitConfig
from trainer.data import Judgments

SPLITS = ("train", "validation", "test")


def _unit(seed: int, query: str) -> float:
    digest = hashlib.sha1(f"{seed}:{query}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(query: str, config: SplitConfig) -> str:
    u = _unit(config.seed, query)
    if u < config.test:
        return "test"
    if u < config.test + config.validation:
        return "validation"
    return "train"


def split_judgments(judgments: Judgments, config: SplitConfig | None = None) -> dict[str, Judgments]:
    """Split by query; returns ``{"train": ..., "validation": ..., "test": ...}``."""
    config = config or SplitConfig()
    assignment = {q: split_of(q, config) for q in judgments.queries}
    out = {}
    for name in SPLITS:
        out[name] = judgments.for_queries({q for q, s in assignment.items() if s == name})
    return out
