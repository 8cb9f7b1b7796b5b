"""Graded ranking metrics for offline evaluation: re-exported from :mod:`mr_opensearch.core.metrics`.

The code lives in the serving package (pure numpy) so ``mros eval --alias`` measures the live index with
exactly the metric code offline evaluation uses; see that module for the formulas.
"""

from __future__ import annotations

from mr_opensearch.core.metrics import dcg, gain, mean_or_none, ndcg_at_k, pairwise_auc, recall_at_k

__all__ = ["dcg", "gain", "mean_or_none", "ndcg_at_k", "pairwise_auc", "recall_at_k"]
