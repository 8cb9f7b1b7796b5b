"""Graded ranking metrics in pure numpy, shared by offline evaluation (``trainer``) and ``mros eval --alias``.

* nDCG@k with gain :math:`2^{g} - 1` (exact = 3, partial = 1, irrelevant and unjudged = 0) and
  discount :math:`1 / \\log_2(r + 1)`; the ideal ranking uses every judged product of the query.
  Queries whose judged products are all irrelevant have no ideal gain and are left out.
* recall@k of a grade set: the share of a query's judged products with such a grade that appear in
  the top k; queries without any are left out.
* pairwise AUC of scores between two grades: the probability that a random pair of the higher grade
  scores above a random pair of the lower grade (ties count one half), pooled over queries; this is
  the Mann-Whitney U statistic divided by ``n_high * n_low``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def gain(grade: int) -> float:
    return float(2 ** int(grade) - 1)


def dcg(grades_in_rank_order: Sequence[int], k: int) -> float:
    return sum(gain(g) / math.log2(r + 2) for r, g in enumerate(list(grades_in_rank_order)[:k]))


def ndcg_at_k(ranked_grades: Sequence[int], judged_grades: Sequence[int], k: int) -> float | None:
    """``ranked_grades``: grades of the retrieved items in rank order (unjudged = 0);
    ``judged_grades``: all judged grades of the query. ``None`` when no ideal gain exists."""
    ideal = dcg(sorted(judged_grades, reverse=True), k)
    if ideal <= 0:
        return None
    return dcg(ranked_grades, k) / ideal


def recall_at_k(retrieved: Sequence[str], relevant: set[str], k: int) -> float | None:
    if not relevant:
        return None
    return len(set(list(retrieved)[:k]) & relevant) / len(relevant)


def pairwise_auc(high: Sequence[float], low: Sequence[float]) -> float | None:
    """AUC of ``high`` scores over ``low`` scores: ``(#{h > l} + #{h == l} / 2) / (n_high * n_low)``."""
    high_arr, low_arr = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    if len(high_arr) == 0 or len(low_arr) == 0:
        return None
    low_sorted = np.sort(low_arr)
    below = np.searchsorted(low_sorted, high_arr, side="left")
    up_to = np.searchsorted(low_sorted, high_arr, side="right")
    wins = below.sum() + 0.5 * (up_to - below).sum()
    return float(wins / (len(high_arr) * len(low_arr)))


def mean_or_none(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None
