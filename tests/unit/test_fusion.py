"""Client-side hybrid fusion against hand-computed values of neural-search 3.5's min_max + arithmetic_mean."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mr_opensearch.fusion import HybridSettings, LowerBound, fuse, normalize_min_max, search_pipeline_body


def test_plain_min_max_and_the_zero_floor():
    assert normalize_min_max([10.0, 5.0, 0.0], None) == pytest.approx([1.0, 0.5, 0.001])
    assert normalize_min_max([3.0], None) == [1.0]            # a single hit is always 1.0
    assert normalize_min_max([2.0, 2.0], None) == [1.0, 1.0]  # all equal
    assert normalize_min_max([], None) == []


def test_apply_is_not_monotone_around_the_bound():
    apply = LowerBound(mode="apply", min_score=0.5)
    got = normalize_min_max([0.2, 0.49, 0.51, 0.9], apply)
    # s <= L keeps min_j: (0.49-0.2)/0.7; s > L uses L: (0.51-0.5)/0.4
    assert got == pytest.approx([0.001, 0.29 / 0.7, 0.01 / 0.4, 1.0], rel=1e-5)


def test_clip_floors_below_the_bound_and_is_a_no_op_when_everything_is_below():
    clip = LowerBound(mode="clip", min_score=0.5)
    assert normalize_min_max([0.2, 0.6, 0.9], clip) == pytest.approx([0.001, 0.25, 1.0], rel=1e-5)
    assert normalize_min_max([0.1, 0.3, 0.4], clip) == pytest.approx([0.001, 2 / 3, 1.0], rel=1e-5)


def test_ignore_is_plain_min_max():
    assert normalize_min_max([0.2, 0.6, 1.0], LowerBound(mode="ignore", min_score=0.5)) == pytest.approx(
        [0.001, 0.5, 1.0], rel=1e-5)


def test_a_document_missing_from_a_leg_counts_zero_with_its_weight():
    s = HybridSettings(weights=(0.4, 0.6), lower_bound_mode="none")
    fused = dict(fuse([[("a", 8.0), ("b", 4.0), ("c", 0.0)], [("b", 0.9), ("d", 0.7), ("e", 0.5)]], s))
    assert fused["a"] == pytest.approx(0.4 * 1.0)
    assert fused["b"] == pytest.approx(0.4 * 0.5 + 0.6 * 1.0)
    assert fused["d"] == pytest.approx(0.6 * 0.5)
    assert fused["c"] == pytest.approx(0.4 * 0.001)


def test_the_dense_lower_bound_keeps_weak_vector_hits_low():
    legs = [[("a", 5.0), ("b", 1.0)], [("b", 0.58), ("c", 0.55)]]
    plain = dict(fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none")))
    bounded = dict(fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="clip", dense_lower_bound=0.6)))
    assert plain["b"] == pytest.approx(0.5 * 0.001 + 0.5 * 1.0)
    # both dense hits are below 0.6 and max < L, so clip is a no-op: the same as plain
    assert bounded == pytest.approx(plain)
    legs = [[("a", 5.0), ("b", 1.0)], [("b", 0.9), ("c", 0.55)]]
    bounded = dict(fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="clip", dense_lower_bound=0.6)))
    assert bounded["c"] == pytest.approx(0.5 * 0.001)  # below the bound: the floor, not stretched upward


def test_min_score_cuts_and_ties_keep_first_appearance():
    s = HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none", min_score=0.4)
    ranked = fuse([[("a", 2.0), ("b", 1.0)], [("c", 0.9), ("d", 0.1)]], s)
    assert ranked == [("a", 0.5), ("c", 0.5)]


def test_weights_are_validated_like_score_combination_util():
    with pytest.raises(ValidationError, match="sum to 1"):
        HybridSettings(weights=(0.5, 0.6), lower_bound_mode="none")
    with pytest.raises(ValidationError, match=r"in \[0, 1\]"):
        HybridSettings(weights=(1.5, -0.5), lower_bound_mode="none")
    with pytest.raises(ValidationError, match="needs dense_lower_bound"):
        HybridSettings(lower_bound_mode="apply")
    HybridSettings(weights=(0.305, 0.7), lower_bound_mode="none")  # within ± 0.01


def test_search_pipeline_body_has_one_bound_per_sub_query():
    body = search_pipeline_body(HybridSettings(weights=(0.3, 0.7), lower_bound_mode="clip", dense_lower_bound=0.61),
                                "mros test")
    assert body == {"description": "mros test", "phase_results_processors": [{"normalization-processor": {
        "normalization": {"technique": "min_max", "parameters": {
            "lower_bounds": [{"mode": "ignore"}, {"mode": "clip", "min_score": 0.61}]}},
        "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.3, 0.7]}}}}]}
