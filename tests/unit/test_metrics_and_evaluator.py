"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from table_scorer import TableScorer

from trainer.data import Catalog, Judgments
from trainer.evaluation import GradedRetrievalEvaluator
from trainer.evaluation.metrics import dcg, ndcg_at_k, pairwise_auc, recall_at_k


def test_dcg_uses_exponential_gain_and_log2_discount():
    # grades 2, 0, 1 -> gains 3, 0, 1 at ranks 1..3
    assert dcg([2, 0, 1], 10) == pytest.approx(3 / math.log2(2) + 0 + 1 / math.log2(4))


def test_ndcg_hand_computed():
    # retrieved: partial, exact, unjudged; judged: exact, partial, irrelevant
    value = ndcg_at_k([1, 2, 0], [2, 1, 0], 10)
    ideal = 3 + 1 / math.log2(3)
    assert value == pytest.approx((1 + 3 / math.log2(3)) / ideal)
    assert ndcg_at_k([0, 0], [0, 0], 10) is None
    assert ndcg_at_k([2], [2], 10) == pytest.approx(1.0)


def test_ndcg_cutoff():
    assert ndcg_at_k([0, 2], [2], 1) == 0.0


def test_recall():
    assert recall_at_k(["a", "b", "c"], {"a", "z"}, 2) == 0.5
    assert recall_at_k(["a"], set(), 2) is None


def test_pairwise_auc_with_ties():
    assert pairwise_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert pairwise_auc([0.1], [0.9]) == 0.0
    # pairs: (0.5 vs 0.5) tie = 0.5, (0.5 vs 0.1) = 1 -> 0.75
    assert pairwise_auc([0.5], [0.5, 0.1]) == pytest.approx(0.75)
    assert pairwise_auc([], [0.1]) is None


def test_evaluator_end_to_end_hand_computed():
    catalog = Catalog(["a", "b", "c", "d"], ["A", "B", "C", "D"])
    frame = pd.DataFrame([("q1", "a", 2), ("q1", "b", 1), ("q1", "c", 0), ("q2", "d", 2)],
                         columns=["query", "product_id", "grade"])
    table = {"q1": [0.2, 0.9, 0.5, 0.8], "q2": [0.9, 0.1, 0.2, 0.3]}
    ev = GradedRetrievalEvaluator(Judgments(frame), catalog, ndcg_k=2, recall_k=2)
    result = ev(TableScorer(catalog, table))
    m = result.metrics
    ideal_q1 = 3 + 1 / math.log2(3)
    # q1 top2: b (partial), d (unjudged); q2 top2: a (unjudged for q2), d (exact)
    expected_q1 = 1 / ideal_q1
    expected_q2 = (3 / math.log2(3)) / 3
    assert m["ndcg@2"] == pytest.approx((expected_q1 + expected_q2) / 2)
    assert m["recall@2_exact"] == pytest.approx((0 + 1) / 2)
    assert m["recall@2_partial+"] == pytest.approx((0.5 + 1) / 2)
    # re-ranking judged only: q1 order b, c, a -> grades 1, 0 at top 2
    assert m["rerank_ndcg@2"] == pytest.approx((1 / ideal_q1 + 1.0) / 2)
    # exact scores {0.2, 0.3}, partial {0.9}, irrelevant {0.5}
    assert m["auc_exact_vs_partial"] == 0.0
    assert m["auc_partial_vs_irrelevant"] == 1.0
    assert m["auc_exact_vs_irrelevant"] == 0.0
    assert ev.primary_metric == "ndcg@2"
    assert sorted(result.scores_by_grade["exact"]) == pytest.approx([0.2, 0.3])
