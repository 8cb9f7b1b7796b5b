"""The graded retrieval evaluator (``primary_metric``: full-corpus ``ndcg@10``).

For a split's judgments and the whole catalog it reports:

* ``ndcg@10``: full-corpus retrieval, graded gains, unjudged products count 0;
* ``recall@100_partial+`` and ``recall@100_exact``;
* ``rerank_ndcg@10``: nDCG@10 of ranking only each query's judged products;
* ``auc_exact_vs_partial``, ``auc_partial_vs_irrelevant``, ``auc_exact_vs_irrelevant``: grade
  separation of the scores of judged pairs (pooled over queries).

It also returns the judged pairs' scores by grade (for histograms and boundary learning) and each
query's nDCG@k (``ndcg_by_query``, the values ``ndcg@k`` is the mean of; None for a query without gain),
for the paired query bootstrap of :mod:`trainer.evaluation.bootstrap`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trainer.data import Catalog, Judgments
from trainer.evaluation.metrics import mean_or_none, ndcg_at_k, pairwise_auc, recall_at_k
from trainer.grades import Grade


@dataclass
class EvaluationResult:
    name: str
    metrics: dict[str, float | None]
    scores_by_grade: dict[str, list[float]] = field(default_factory=dict)
    ndcg_by_query: dict[str, float | None] = field(default_factory=dict)
    """nDCG@k of each query (keyed by query text), None where the query has no gain: the values the
    ``ndcg@k`` metric is the mean of (queries with None skipped)."""


class GradedRetrievalEvaluator:
    primary_metric = "ndcg@10"

    def __init__(self, judgments: Judgments, catalog: Catalog, ndcg_k: int = 10, recall_k: int = 100,
                 name: str = "test") -> None:
        self.judgments = judgments
        self.catalog = catalog
        self.ndcg_k = ndcg_k
        self.recall_k = recall_k
        self.name = name
        self.primary_metric = f"ndcg@{ndcg_k}"
        self.by_query: dict[str, dict[str, int]] = {}
        for query, pid, grade in judgments.frame[["query", "product_id", "grade"]].itertuples(index=False):
            self.by_query.setdefault(query, {})[pid] = int(grade)

    def __call__(self, scorer) -> EvaluationResult:
        queries = list(self.by_query)
        k = max(self.ndcg_k, self.recall_k)
        top_idx, _ = scorer.retrieve(queries, k)
        ndcgs, rec_partial, rec_exact, rerank = [], [], [], []
        frame = self.judgments.frame
        pair_scores = scorer.score_pairs(list(frame["query"]), list(frame["product_id"]))
        score_of = {(q, p): float(s) for q, p, s in zip(frame["query"], frame["product_id"], pair_scores, strict=True)}
        for i, query in enumerate(queries):
            graded = self.by_query[query]
            retrieved = [self.catalog.ids[j] for j in top_idx[i]]
            ndcgs.append(ndcg_at_k([graded.get(p, 0) for p in retrieved], list(graded.values()), self.ndcg_k))
            rec_partial.append(recall_at_k(retrieved, {p for p, g in graded.items() if g >= Grade.PARTIAL}, self.recall_k))
            rec_exact.append(recall_at_k(retrieved, {p for p, g in graded.items() if g == Grade.EXACT}, self.recall_k))
            judged = sorted(graded, key=lambda p: -score_of[(query, p)])
            rerank.append(ndcg_at_k([graded[p] for p in judged], list(graded.values()), self.ndcg_k))
        by_grade = {g.label: [float(s) for s, gg in zip(pair_scores, frame["grade"], strict=True) if gg == g]
                    for g in Grade}
        k_n, k_r = self.ndcg_k, self.recall_k
        metrics = {
            f"ndcg@{k_n}": mean_or_none(ndcgs),
            f"recall@{k_r}_partial+": mean_or_none(rec_partial),
            f"recall@{k_r}_exact": mean_or_none(rec_exact),
            f"rerank_ndcg@{k_n}": mean_or_none(rerank),
            "auc_exact_vs_partial": pairwise_auc(by_grade["exact"], by_grade["partial"]),
            "auc_partial_vs_irrelevant": pairwise_auc(by_grade["partial"], by_grade["irrelevant"]),
            "auc_exact_vs_irrelevant": pairwise_auc(by_grade["exact"], by_grade["irrelevant"]),
            "queries": float(len(queries)),
            "queries_with_gain": float(sum(v is not None for v in ndcgs)),
        }
        return EvaluationResult(getattr(scorer, "name", "model"), metrics, by_grade,
                                dict(zip(queries, ndcgs, strict=True)))


def scores_summary(scores_by_grade: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    out = {}
    for grade, values in scores_by_grade.items():
        if values:
            arr = np.asarray(values)
            out[grade] = {f"q{int(q * 100):02d}": float(np.quantile(arr, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
            out[grade]["n"] = float(len(arr))
    return out
