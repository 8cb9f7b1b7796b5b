"""Pair features (checked against hand-computed values) and the stacking head."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.labeler.features import FEATURE_NAMES, PairFeatures, tokens
from trainer.labeler.stacking import StackingHead

CATALOG = ["dewalt cordless drill 20v", "garden hose 50 ft", "cordless leaf blower", "drill bit set"]


def feature(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_NAMES.index(name)])


def test_tokens_lowercase_keep_decimals_and_stem():
    assert tokens("DEWALT 20V Drills, 1.5 in.") == ["dewalt", "20v", "drill", "1.5", "in"]
    assert tokens("hoses watering boxes batteries glass") == ["hose", "water", "box", "battery", "glass"]


def test_lexical_features_by_hand():
    feats = PairFeatures.fit(CATALOG, [], [], encoder=None)
    assert feats.n_docs == 4 and feats.avg_len == pytest.approx((4 + 4 + 3 + 3) / 4)
    row = feats.transform([("cordless drill 18v", "dewalt cordless drill 20v")])[0]
    idf = lambda df: math.log(1 + (4 - df + 0.5) / (df + 0.5))  # noqa: E731
    # query tokens: cordless (df 2), drill (df 2), 18v (df 0); product has 4 tokens, avg length 3.5
    norm = 1.2 * (1 - 0.75 + 0.75 * 4 / 3.5)
    bm25 = 2 * idf(2) * 2.2 / (1 + norm)
    assert feature(row, "bm25") == pytest.approx(bm25)
    assert feature(row, "overlap") == pytest.approx(2 / 3)
    assert feature(row, "idf_overlap") == pytest.approx(2 * idf(2) / (2 * idf(2) + idf(0)))
    assert feature(row, "head_match") == 0.0 and feature(row, "first_match") == 1.0
    assert feature(row, "phrase_match") == 0.0
    assert feature(row, "number_match") == 0.0  # 18v is not in the product
    assert feature(row, "query_tokens") == 3 and feature(row, "product_tokens") == 4
    assert feature(row, "matched_tokens") == 2 and feature(row, "cosine") == 0.0  # no encoder

    row = feats.transform([("garden hose", "garden hose 50 ft")])[0]
    assert feature(row, "phrase_match") == 1.0 and feature(row, "number_match") == -1.0
    assert feature(row, "trigram_overlap") == 1.0 and feature(row, "prefix_overlap") == 1.0


def test_product_prior_shrinks_and_leaves_the_pair_out():
    pairs = [("drill", CATALOG[0]), ("cordless drill", CATALOG[0]), ("hose", CATALOG[1])]
    feats = PairFeatures.fit(CATALOG, pairs, [2, 2, 0], encoder=None)
    mean = 4 / 3
    seen = feats.transform([("impact driver", CATALOG[0])])[0]
    assert feature(seen, "product_prior") == pytest.approx((4 + 2 * mean) / 4)
    assert feature(seen, "product_judged") == 2
    # a training pair's own grade is left out of its product's prior
    own = feats.transform(pairs, leave_out=[2, 2, 0])
    assert feature(own[0], "product_prior") == pytest.approx((2 + 2 * mean) / 3)
    assert feature(own[2], "product_prior") == pytest.approx(mean) and feature(own[2], "product_judged") == 0
    unseen = feats.transform([("blower", CATALOG[2])])[0]
    assert feature(unseen, "product_prior") == pytest.approx(mean) and feature(unseen, "product_judged") == 0


def test_features_save_load_round_trip(tmp_path):
    feats = PairFeatures.fit(CATALOG, [("drill", CATALOG[0])], [2], encoder=None)
    feats.save(tmp_path)
    again = PairFeatures.load(tmp_path)
    pairs = [("cordless drill", CATALOG[0]), ("hose 50", CATALOG[1])]
    assert np.array_equal(feats.transform(pairs), again.transform(pairs))


def test_stacking_head_learns_from_features_and_round_trips(tmp_path):
    """Logits carry no signal, one feature carries the grade: the combiner must follow the trees."""
    rng = np.random.default_rng(0)
    n = 600
    grades = rng.integers(0, 3, size=n)
    features = np.column_stack([grades + rng.normal(0, 0.2, n), rng.normal(size=n)])
    logits = rng.normal(size=(n, 3))
    trees = StackingHead.fit_trees(features[:400], grades[:400], seed=0, max_iter=50)
    head = StackingHead.fit(trees, logits[400:500], features[400:500], grades[400:500])
    probs = head.predict_proba(logits[500:], features[500:])
    assert probs.shape == (100, 3) and np.allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == grades[500:]).mean() > 0.9
    head.save(tmp_path)
    assert np.allclose(StackingHead.load(tmp_path).predict_proba(logits[500:], features[500:]), probs)


def test_stacking_head_handles_a_grade_missing_from_training():
    rng = np.random.default_rng(1)
    grades = rng.integers(1, 3, size=200)  # no irrelevant pairs at all
    features = np.column_stack([grades + rng.normal(0, 0.1, 200)])
    trees = StackingHead.fit_trees(features, grades, max_iter=20)
    head = StackingHead.fit(trees, rng.normal(size=(200, 3)), features, grades)
    probs = head.predict_proba(rng.normal(size=(5, 3)), features[:5])
    assert probs.shape == (5, 3) and np.allclose(probs[:, 0], 0.0) and np.allclose(probs.sum(1), 1.0)


def test_neighbour_memory_by_hand(tmp_path):
    """Three training pairs in a 2-d space; similarities are the mean of query and text cosines."""
    from trainer.labeler.neighbours import NEIGHBOUR_FEATURES, NeighbourMemory, pair_vectors

    x, y = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    train = [("a", "t1"), ("b", "t2"), ("c", "t2")]
    memory = NeighbourMemory.fit(train, [2, 1, 0], np.array([x, x, y]), np.array([x, y, y]))
    assert memory.query_vectors.shape == (3, 2) and memory.text_vectors.shape == (2, 2)  # t2 stored once
    vector = pair_vectors(x[None], x[None])
    # query "a" never sees its own judgment: neighbours are (b, t2) at (1 + 0) / 2 and (c, t2) at 0
    own = dict(zip(NEIGHBOUR_FEATURES, memory.features(["a"], vector)[0], strict=True))
    assert own["knn_similarity"] == pytest.approx(0.5) and own["knn_grade"] == 1
    assert own["knn_weighted_grade"] == pytest.approx(1.0, abs=1e-9)  # exp(-0.5 / 0.02) ~ 1e-11
    assert own["knn_grade5"] == pytest.approx(0.5) and own["knn_mean_similarity"] == pytest.approx(0.25)
    assert own["knn_exact_share"] == 0.0 and own["knn_irrelevant_share"] == pytest.approx(0.5)
    new = dict(zip(NEIGHBOUR_FEATURES, memory.features(["new query"], vector)[0], strict=True))
    assert new["knn_similarity"] == pytest.approx(1.0) and new["knn_grade"] == 2
    assert new["knn_grade5"] == pytest.approx(1.0) and new["knn_exact_share"] == pytest.approx(1 / 3)
    memory.save(tmp_path)
    assert np.allclose(NeighbourMemory.load(tmp_path).features(["a", "new query"], np.vstack([vector, vector])),
                       memory.features(["a", "new query"], np.vstack([vector, vector])))


def test_neighbour_features_without_an_encoder_are_constant():
    feats = PairFeatures.fit(CATALOG, [("drill", CATALOG[0]), ("hose", CATALOG[1])], [2, 0], encoder=None)
    assert feats.memory is None
    rows = feats.transform([("cordless drill", CATALOG[0]), ("blower", CATALOG[2])])
    assert feature(rows[0], "knn_similarity") == 0.0 and feature(rows[1], "knn_weighted_grade") == 1.0
    assert np.array_equal(rows[0, -7:], rows[1, -7:])
