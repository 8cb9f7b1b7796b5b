"""Paired cluster bootstrap over queries: is the difference of a metric between two models larger than
the evaluation set's noise?

Each replicate draws the split's queries with replacement; a query drawn ``c`` times weighs ``c`` in
every statistic, for both models on the same draw (paired), so the spread of ``B - A`` over the
replicates reflects which queries happen to be in the set. A statistic is a function of the per-query
weights (``[n_queries]``, draw counts; all ones for the full set):

* :func:`auc_statistic`: grade-separation AUC of the judged pairs (pooled over queries), each pair
  weighted by its query's weight (:func:`weighted_auc`);
* :func:`ndcg_statistic`: mean of per-query nDCG, weighted, queries without gain skipped (as
  :func:`trainer.evaluation.metrics.mean_or_none` does);
* :func:`accuracy_statistic`: 3-class accuracy of the pairs' grades thresholded at a model's boundaries
  (:func:`trainer.boundaries.grade_by_thresholds`), each pair weighted by its query's weight.

:func:`paired_query_bootstrap` runs the replicates and returns, per statistic, both models' full-set
values, ``B - A``, its 95% percentile interval and the share of replicates where B is above A.
Per-replicate work is a few weighted sums over pre-sorted arrays, so thousands of replicates over
thousands of queries take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.boundaries import grade_by_thresholds
from trainer.grades import Grade

Statistic = Callable[[np.ndarray], float]
"""A metric of one model as a function of the per-query weights (bootstrap draw counts)."""

GRADE_PAIRS = {"auc_exact_vs_partial": ("exact", "partial"), "auc_partial_vs_irrelevant": ("partial", "irrelevant"),
               "auc_exact_vs_irrelevant": ("exact", "irrelevant")}


def weighted_auc(high: np.ndarray, w_high: np.ndarray, low: np.ndarray, w_low: np.ndarray) -> float:
    """P(score of a high-grade pair > score of a low-grade pair), ties counted half, pairs weighted:
    :func:`trainer.evaluation.metrics.pairwise_auc` with a weight per pair. NaN when either side weighs 0.
    (:func:`auc_statistic` with every pair its own "query".)"""
    n_high, n_low = len(high), len(low)
    weights = np.concatenate([np.asarray(w_high, dtype=np.float64), np.asarray(w_low, dtype=np.float64)])
    return auc_statistic(high, np.arange(n_high), low, n_high + np.arange(n_low))(weights)


def auc_statistic(high: np.ndarray, high_query: np.ndarray, low: np.ndarray, low_query: np.ndarray) -> Statistic:
    """:func:`weighted_auc` of the high-grade scores against the low-grade ones, a pair weighing its
    query's weight (``*_query``: each pair's query index). The sort is done once, not per replicate."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    high_query, low_query = np.asarray(high_query), np.asarray(low_query)
    order = np.argsort(low, kind="stable")
    low_sorted, low_query_sorted = low[order], low_query[order]
    left = np.searchsorted(low_sorted, high, side="left")
    right = np.searchsorted(low_sorted, high, side="right")

    def value(weights: np.ndarray) -> float:
        cum = np.concatenate([[0.0], np.cumsum(weights[low_query_sorted])])
        w_high = weights[high_query]
        total = w_high.sum() * cum[-1]
        if total == 0:
            return float("nan")
        return float((w_high * (cum[left] + 0.5 * (cum[right] - cum[left]))).sum() / total)

    return value


def ndcg_statistic(ndcg_by_query: np.ndarray) -> Statistic:
    """Weighted mean of per-query nDCG (``[n_queries]``, NaN for a query without gain, which is skipped)."""
    values = np.asarray(ndcg_by_query, dtype=np.float64)
    counted = ~np.isnan(values)
    kept = np.where(counted, values, 0.0)
    counted = counted.astype(np.float64)

    def value(weights: np.ndarray) -> float:
        total = weights @ counted
        return float(weights @ kept / total) if total > 0 else float("nan")

    return value


def accuracy_statistic(scores: np.ndarray, grades: np.ndarray, query: np.ndarray, n_queries: int,
                       partial: float, exact: float) -> Statistic:
    """Weighted 3-class accuracy of the pairs' grades (0/1/2) predicted by thresholding their scores at
    ``partial`` / ``exact`` (:func:`trainer.boundaries.grade_by_thresholds`): sum(w * correct) / sum(w),
    a pair weighing its query's weight. Per-query sums are taken once, so a replicate is two dot products."""
    correct = grade_by_thresholds(np.asarray(scores, dtype=np.float64), partial, exact) == np.asarray(grades)
    correct_by_query = np.bincount(query, weights=correct.astype(np.float64), minlength=n_queries)
    pairs_by_query = np.bincount(query, minlength=n_queries).astype(np.float64)

    def value(weights: np.ndarray) -> float:
        total = weights @ pairs_by_query
        return float(weights @ correct_by_query / total) if total > 0 else float("nan")

    return value


@dataclass(frozen=True)
class PairedInterval:
    """One statistic of models A and B on the full set, B - A, and its bootstrap 95% interval."""

    a: float
    b: float
    b_minus_a: float
    ci95: tuple[float, float]
    share_of_replicates_b_above_a: float

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "b_minus_a": self.b_minus_a, "ci95": list(self.ci95),
                "share_of_replicates_b_above_a": self.share_of_replicates_b_above_a}


def paired_query_bootstrap(statistics: Mapping[str, tuple[Statistic, Statistic]], n_queries: int,
                           replicates: int = 2000, seed: int = 0) -> dict[str, PairedInterval]:
    """For each named (statistic of A, statistic of B): full-set values (unit weights), B - A, and the
    2.5/97.5 percentiles of B - A over ``replicates`` draws of ``n_queries`` queries with replacement
    (the same draws for every statistic and both models). Replicates where a statistic is undefined
    (NaN: e.g. no pair of a grade drawn) are left out of its interval and share."""
    if n_queries < 1:
        raise ValueError("the bootstrap needs at least one query")
    if replicates < 1:
        raise ValueError("the bootstrap needs at least one replicate")
    rng = np.random.default_rng(seed)
    diffs = {key: np.empty(replicates) for key in statistics}
    for r in range(replicates):
        counts = np.bincount(rng.integers(0, n_queries, n_queries), minlength=n_queries).astype(np.float64)
        for key, (stat_a, stat_b) in statistics.items():
            diffs[key][r] = stat_b(counts) - stat_a(counts)
    ones = np.ones(n_queries)
    out = {}
    for key, (stat_a, stat_b) in statistics.items():
        a, b = stat_a(ones), stat_b(ones)
        values = diffs[key][~np.isnan(diffs[key])]
        low, high = (float(v) for v in np.percentile(values, [2.5, 97.5])) if len(values) else (float("nan"),) * 2
        share = float(np.mean(values > 0)) if len(values) else float("nan")
        out[key] = PairedInterval(a, b, b - a, (low, high), share)
    return out


@dataclass
class SplitPairs:
    """A split's judged pairs in the order of an evaluation cache's ``scores_by_grade`` (by grade:
    irrelevant, partial, exact; within a grade in the split's order), with each pair's query index."""

    queries: list[str]
    query: np.ndarray
    grade: np.ndarray
    counts_by_grade: dict[str, int]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SplitPairs:
        queries = list(dict.fromkeys(frame["query"]))
        index = {q: i for i, q in enumerate(queries)}
        query_parts, grade_parts, counts = [], [], {}
        for grade in Grade:
            rows = frame[frame["grade"] == int(grade)]
            query_parts.append(rows["query"].map(index).to_numpy(dtype=np.int64))
            grade_parts.append(np.full(len(rows), int(grade), dtype=np.int64))
            counts[grade.label] = len(rows)
        return cls(queries, np.concatenate(query_parts), np.concatenate(grade_parts), counts)

    def scores(self, scores_by_grade: Mapping[str, list[float]], source: str = "the cache") -> np.ndarray:
        """The pairs' scores from a cache's ``scores_by_grade``; ValueError when it holds another split."""
        parts = []
        for grade in Grade:
            values = np.asarray(scores_by_grade.get(grade.label, []), dtype=np.float64)
            if len(values) != self.counts_by_grade[grade.label]:
                raise ValueError(f"{source}: {len(values)} {grade.label} scores but the split has "
                                 f"{self.counts_by_grade[grade.label]} {grade.label} pairs: not the same split")
            parts.append(values)
        return np.concatenate(parts)

    def scores_of(self, scores: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
        """The scores and query indices of the pairs of one grade."""
        mask = self.grade == int(Grade[label.upper()])
        return scores[mask], self.query[mask]

    def ndcg(self, ndcg_by_query: Mapping[str, float | None], source: str = "the cache") -> np.ndarray:
        """Per-query nDCG in the split's query order (NaN for None); ValueError when the queries differ."""
        if set(ndcg_by_query) != set(self.queries):
            missing, extra = set(self.queries) - set(ndcg_by_query), set(ndcg_by_query) - set(self.queries)
            raise ValueError(f"{source}: per-query nDCG of {len(ndcg_by_query)} queries, the split has "
                             f"{len(self.queries)} ({len(missing)} missing, {len(extra)} not in the split): "
                             "not the same split")
        return np.array([np.nan if ndcg_by_query[q] is None else float(ndcg_by_query[q]) for q in self.queries])


def auc_statistics(pairs: SplitPairs, scores: np.ndarray) -> dict[str, Statistic]:
    """The three grade-separation AUC statistics of one model's pair scores."""
    out = {}
    for key, (high, low) in GRADE_PAIRS.items():
        high_scores, high_query = pairs.scores_of(scores, high)
        low_scores, low_query = pairs.scores_of(scores, low)
        out[key] = auc_statistic(high_scores, high_query, low_scores, low_query)
    return out
