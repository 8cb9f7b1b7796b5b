"""The paired query bootstrap (trainer/evaluation/bootstrap.py) on hand-made data: its weighted
statistics agree with the plain metrics at unit weights, the intervals behave at the extremes (B better
on every query; identical models), per-query nDCG from the evaluator averages to its ndcg@10, and old
evaluation caches or boundary files without a model give clear errors instead of KeyErrors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from table_scorer import TableScorer

from mr_opensearch.core.errors import MrosError
from trainer.boundaries import grade_by_thresholds, model_boundaries, write_boundaries
from trainer.data import Catalog, Judgments
from trainer.evaluation import GradedRetrievalEvaluator
from trainer.evaluation.bootstrap import (
    SplitPairs,
    accuracy_statistic,
    auc_statistic,
    auc_statistics,
    ndcg_statistic,
    paired_query_bootstrap,
    weighted_auc,
)
from trainer.evaluation.metrics import mean_or_none, pairwise_auc
from trainer.evaluation.run_step import read_evaluation_cache

RNG = np.random.default_rng(7)
FRAME = pd.DataFrame([("q1", "a", 2), ("q1", "b", 1), ("q1", "c", 0), ("q2", "d", 2), ("q2", "a", 0),
                      ("q3", "b", 1), ("q3", "c", 2), ("q3", "d", 1)], columns=["query", "product_id", "grade"])


def test_weighted_auc_with_unit_weights_is_pairwise_auc():
    high, low = RNG.normal(0.5, 0.2, 40), RNG.normal(0.3, 0.2, 55)
    low[:5] = high[:5]  # ties count half in both
    assert weighted_auc(high, np.ones(40), low, np.ones(55)) == pytest.approx(pairwise_auc(list(high), list(low)))
    high_query, low_query = RNG.integers(0, 9, 40), RNG.integers(0, 9, 55)
    stat = auc_statistic(high, high_query, low, low_query)
    assert stat(np.ones(9)) == pytest.approx(pairwise_auc(list(high), list(low)))
    # a query drawn twice counts twice: same as duplicating its pairs
    weights = RNG.integers(0, 3, 9).astype(float)
    duplicated_high = np.repeat(high, weights[high_query].astype(int))
    duplicated_low = np.repeat(low, weights[low_query].astype(int))
    assert stat(weights) == pytest.approx(pairwise_auc(list(duplicated_high), list(duplicated_low)))
    assert weighted_auc(high, weights[high_query], low, weights[low_query]) == pytest.approx(stat(weights))


def test_split_pairs_follow_the_cache_order_and_auc_statistics_match_the_evaluator_figures():
    pairs = SplitPairs.from_frame(FRAME)
    assert pairs.queries == ["q1", "q2", "q3"]
    assert pairs.grade.tolist() == [0, 0, 1, 1, 1, 2, 2, 2]  # irrelevant, partial, exact blocks
    assert pairs.query.tolist() == [0, 1, 0, 2, 2, 0, 1, 2]
    by_grade = {"irrelevant": [0.1, 0.4], "partial": [0.5, 0.3, 0.2], "exact": [0.9, 0.6, 0.35]}
    scores = pairs.scores(by_grade)
    for key, stat in auc_statistics(pairs, scores).items():
        high, low = key.removeprefix("auc_").split("_vs_")
        assert stat(np.ones(3)) == pytest.approx(pairwise_auc(by_grade[high], by_grade[low]))
    with pytest.raises(ValueError, match="not the same split"):
        pairs.scores({**by_grade, "exact": [0.9]})


def test_b_better_on_every_query_gives_an_ndcg_interval_above_zero():
    a = RNG.uniform(0.1, 0.8, 60)
    b = a + RNG.uniform(0.01, 0.1, 60)
    a[[3, 17]] = b[[3, 17]] = np.nan  # queries without gain are skipped by both
    out = paired_query_bootstrap({"ndcg@10": (ndcg_statistic(a), ndcg_statistic(b))}, 60, replicates=300, seed=1)
    interval = out["ndcg@10"]
    assert interval.a == pytest.approx(mean_or_none([None if math.isnan(v) else v for v in a]))
    assert interval.b_minus_a == pytest.approx(interval.b - interval.a) and interval.b_minus_a > 0
    assert 0 < interval.ci95[0] <= interval.b_minus_a <= interval.ci95[1]
    assert interval.share_of_replicates_b_above_a == 1.0


def test_identical_models_give_zero_difference_and_a_zero_interval():
    pairs = SplitPairs.from_frame(FRAME)
    scores = RNG.uniform(0, 1, len(pairs.query))
    ndcg = RNG.uniform(0, 1, 3)
    statistics = {key: (stat, stat) for key, stat in auc_statistics(pairs, scores).items()}
    statistics["ndcg@10"] = (ndcg_statistic(ndcg), ndcg_statistic(ndcg.copy()))
    accuracy = accuracy_statistic(scores, pairs.grade, pairs.query, 3, 0.3, 0.7)
    statistics["boundary_accuracy"] = (accuracy, accuracy)
    out = paired_query_bootstrap(statistics, 3, replicates=200, seed=0)
    for key, interval in out.items():
        assert interval.b_minus_a == 0.0, key
        assert interval.ci95 == (0.0, 0.0), key
        assert interval.share_of_replicates_b_above_a == 0.0, key
        assert interval.as_dict()["ci95"] == [0.0, 0.0]


def test_accuracy_with_unit_weights_is_plain_thresholded_accuracy():
    pairs = SplitPairs.from_frame(FRAME)
    scores = np.array([0.1, 0.45, 0.5, 0.3, 0.2, 0.9, 0.6, 0.35])
    predicted = grade_by_thresholds(scores, 0.3, 0.6)
    assert predicted.tolist() == [0, 1, 1, 1, 0, 2, 2, 1]  # >= exact is exact, >= partial is partial
    stat = accuracy_statistic(scores, pairs.grade, pairs.query, 3, 0.3, 0.6)
    assert stat(np.ones(3)) == pytest.approx((predicted == pairs.grade).mean())
    # q1 weighted twice, q2 dropped: the pairs of q1 twice, of q3 once
    keep = np.repeat(np.arange(8), np.array([2.0, 0.0, 1.0])[pairs.query].astype(int))
    assert stat(np.array([2.0, 0.0, 1.0])) == pytest.approx((predicted[keep] == pairs.grade[keep]).mean())


def test_evaluator_ndcg_by_query_averages_to_its_ndcg_metric():
    catalog = Catalog(["a", "b", "c", "d"], ["A", "B", "C", "D"])
    frame = pd.concat([FRAME, pd.DataFrame([("q4", "a", 0), ("q4", "b", 0)], columns=FRAME.columns)])
    table = {"q1": [0.2, 0.9, 0.5, 0.8], "q2": [0.9, 0.1, 0.2, 0.3], "q3": [0.4, 0.3, 0.2, 0.1],
             "q4": [0.5, 0.4, 0.3, 0.2]}
    result = GradedRetrievalEvaluator(Judgments(frame.reset_index(drop=True)), catalog, ndcg_k=2, recall_k=3)(
        TableScorer(catalog, table))
    by_query = result.ndcg_by_query
    assert list(by_query) == ["q1", "q2", "q3", "q4"]
    assert by_query["q4"] is None  # no gain: skipped as the metric's mean skips it
    assert mean_or_none(list(by_query.values())) == result.metrics["ndcg@2"]
    assert len({v for v in by_query.values() if v is not None}) > 1  # not a constant
    pairs = SplitPairs.from_frame(frame)
    assert ndcg_statistic(pairs.ndcg(by_query))(np.ones(4)) == pytest.approx(result.metrics["ndcg@2"])


def test_a_cache_without_per_query_ndcg_gives_a_clear_error(tmp_path):
    cache = tmp_path / "eval" / "test" / "stage1.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"key": "k", "metrics": {}, "scores_by_grade": {"exact": [0.5]}}))
    with pytest.raises(MrosError) as caught:
        read_evaluation_cache(tmp_path, "test", "stage1", fields=("scores_by_grade", "ndcg_by_query"))
    assert "ndcg_by_query" in caught.value.message and str(cache) in caught.value.message
    assert "mros eval --run" in caught.value.hint and "only models whose cache lacks it" in caught.value.hint
    assert read_evaluation_cache(tmp_path, "test", "stage1")["scores_by_grade"] == {"exact": [0.5]}
    with pytest.raises(MrosError, match="not found"):
        read_evaluation_cache(tmp_path, "test", "stage2")


def test_boundaries_are_chosen_by_model_name(tmp_path):
    path = tmp_path / "boundaries.json"
    write_boundaries(path, {"partial": 0.3, "exact": 0.5, "compared": {
        "stage2": {"partial": 0.3, "exact": 0.5}, "stage1": {"partial": 0.2, "exact": 0.45}}})
    assert model_boundaries(path, "stage1") == (0.2, 0.45)
    assert model_boundaries(path, "stage2") == (0.3, 0.5)
    with pytest.raises(MrosError, match="no boundaries of model 'base'; it has: stage2, stage1"):
        model_boundaries(path, "base")
    write_boundaries(path, {"partial": 0.3, "exact": 0.5})
    with pytest.raises(MrosError, match="names no models"):
        model_boundaries(path, "stage2")


def test_a_file_of_compared_models_only_is_enough(tmp_path):
    """benchmarks/quality_variants.py keeps screened models' boundaries under ``compared`` only (there is
    no shipped pair); a missing or broken file still says what to do."""
    path = tmp_path / "boundaries.json"
    path.write_text(json.dumps({"compared": {"mnrl": {"partial": 0.1, "exact": 0.4}}}))
    assert model_boundaries(path, "mnrl") == (0.1, 0.4)
    path.write_text("{not json")
    with pytest.raises(MrosError, match="not a boundaries file"):
        model_boundaries(path, "mnrl")
    with pytest.raises(MrosError, match="not found"):
        model_boundaries(tmp_path / "missing.json", "mnrl")
