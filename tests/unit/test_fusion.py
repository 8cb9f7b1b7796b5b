"""Client-side hybrid fusion against hand-computed values of neural-search 3.5's min_max + arithmetic_mean.

The float32 figures compared exactly (0.41428575, 0.024999978, 0.2500001, 0.17500006, 0.2998579) are
what a Java transcription of ``normalizeSingleScore`` / ``ArithmeticMeanScoreCombinationTechnique.combine``
printed (``float`` arithmetic, JDK 25); the others are the formulas worked by hand.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from pydantic import ValidationError

from mr_opensearch.search import fusion
from mr_opensearch.search.fusion import (
    HybridSettings,
    LowerBound,
    combine_arithmetic_mean,
    fuse,
    normalize_min_max,
    search_pipeline_body,
    validate_weights,
)

APPLY = LowerBound(mode="apply", min_score=0.5)
CLIP = LowerBound(mode="clip", min_score=0.5)
IGNORE = LowerBound(mode="ignore", min_score=0.5)


def f32(values):
    return [np.float32(v) for v in values]


# --- normalization -------------------------------------------------------------------------------

def test_plain_min_max_floors_the_minimum_at_0_001():
    assert normalize_min_max([10.0, 5.0, 0.0], None) == [1.0, 0.5, 0.001]
    assert normalize_min_max([], None) == []
    assert normalize_min_max([], CLIP) == []


def test_apply_is_not_monotone_around_the_bound():
    got = normalize_min_max([0.2, 0.49, 0.51, 0.9], APPLY)
    # s <= L keeps min_j: (0.49-0.2)/(0.9-0.2) = 0.414..; s > L uses L: (0.51-0.5)/(0.9-0.5) = 0.025
    assert got == pytest.approx([0.001, 0.29 / 0.7, 0.01 / 0.4, 1.0], rel=1e-5)
    assert f32(got) == f32([0.001, 0.41428575, 0.024999978, 1.0])  # the Java float results, bit for bit
    assert got[1] > got[2]  # a higher raw score normalises lower


def test_apply_at_the_bound_and_when_every_score_is_below_it():
    # s == L is not > L, so it keeps min_j: (0.5-0.2)/0.7
    assert normalize_min_max([0.2, 0.5, 0.9], APPLY) == pytest.approx([0.001, 0.3 / 0.7, 1.0], rel=1e-5)
    # max_j <= L: plain min-max, the top doc still gets 1.0
    assert normalize_min_max([0.1, 0.3, 0.4], APPLY) == pytest.approx([0.001, 2 / 3, 1.0], rel=1e-5)


def test_clip_floors_scores_below_the_bound_at_0_001():
    got = normalize_min_max([0.2, 0.6, 0.9], CLIP)
    assert got == pytest.approx([0.001, 0.1 / 0.4, 1.0], rel=1e-5)
    assert f32(got) == f32([0.001, 0.2500001, 1.0])
    # s == L: not below effMin, but n == 0 -> 0.001 as well
    assert normalize_min_max([0.2, 0.5, 0.9], CLIP) == [0.001, 0.001, 1.0]


def test_clip_is_a_no_op_when_every_score_is_below_the_bound():
    assert normalize_min_max([0.1, 0.3, 0.4], CLIP) == pytest.approx([0.001, 2 / 3, 1.0], rel=1e-5)
    # max_j == L is not < L: effMin = L, so everything below L is floored and the top is 1.0
    assert normalize_min_max([0.1, 0.3, 0.5], CLIP) == [0.001, 0.001, 1.0]


def test_ignore_and_no_bound_are_plain_min_max():
    assert normalize_min_max([0.2, 0.6, 1.0], IGNORE) == pytest.approx([0.001, 0.5, 1.0], rel=1e-5)
    assert normalize_min_max([0.2, 0.6, 1.0], IGNORE) == normalize_min_max([0.2, 0.6, 1.0], None)


def test_a_single_result_is_1_before_any_bound():
    for bound in (None, APPLY, CLIP, IGNORE):
        assert normalize_min_max([0.3], bound) == [1.0]  # 0.3 < L, yet clip does not floor it


def test_all_equal_scores_are_1():
    assert normalize_min_max([2.0, 2.0, 2.0], None) == [1.0, 1.0, 1.0]
    assert normalize_min_max([0.2, 0.2], CLIP) == [1.0, 1.0]
    assert normalize_min_max([0.7, 0.7], APPLY) == [1.0, 1.0]


# --- combination ---------------------------------------------------------------------------------

def test_a_document_missing_from_a_leg_counts_zero_with_its_weight():
    s = HybridSettings(weights=(0.4, 0.6), lower_bound_mode="none")
    fused = dict(fuse([[("a", 8.0), ("b", 4.0), ("c", 0.0)], [("b", 0.9), ("d", 0.7), ("e", 0.5)]], s))
    assert fused["a"] == pytest.approx(0.4 * 1.0 + 0.6 * 0.0, rel=1e-6)  # not 1.0: 0.6 stays in Σw
    assert fused["b"] == pytest.approx(0.4 * 0.5 + 0.6 * 1.0, rel=1e-6)
    assert fused["d"] == pytest.approx(0.6 * 0.5, rel=1e-5)
    assert fused["c"] == pytest.approx(0.4 * 0.001, rel=1e-5)
    assert fused["e"] == pytest.approx(0.6 * 0.001, rel=1e-5)


def test_combine_arithmetic_mean_edge_cases():
    got = combine_arithmetic_mean([{"x": 0.41428575}, {"x": 0.2500001}], [0.305, 0.7])
    assert np.float32(got["x"]) == np.float32(0.2998579)  # (0.305·0.414 + 0.7·0.25) / 1.005, in float
    assert combine_arithmetic_mean([{"x": 0.5}, {"y": 1.0}], [0.0, 0.0]) == {"x": 0.0, "y": 0.0}
    assert combine_arithmetic_mean([{"x": 0.5}, {"y": 1.0}], []) == {"x": 0.25, "y": 0.5}  # default 1.0 each
    assert combine_arithmetic_mean([{"x": -0.5}, {"x": 0.8}], [0.5, 0.5]) == {"x": pytest.approx(0.8)}
    with pytest.raises(ValueError, match="number of weights"):
        combine_arithmetic_mean([{"x": 1.0}], [0.5, 0.5])


def test_fuse_matches_the_engine_float_for_float():
    s = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="apply", dense_lower_bound=0.5)
    got = fuse([[("a", 12.0), ("b", 8.0), ("c", 4.0)], [("b", 0.9), ("d", 0.6), ("a", 0.2)]], s)
    assert got == [("b", 0.85), ("a", 0.3007), ("d", 0.17500006), ("c", 0.0003)]


def test_the_dense_lower_bound_keeps_weak_vector_hits_low():
    legs = [[("a", 5.0), ("b", 1.0)], [("b", 0.9), ("c", 0.55), ("e", 0.3)]]

    def fused(mode, bound=None):
        settings = HybridSettings(weights=(0.5, 0.5), lower_bound_mode=mode, dense_lower_bound=bound)
        return dict(fuse(legs, settings))

    plain, clip, apply = fused("none"), fused("clip", 0.6), fused("apply", 0.6)
    assert plain["c"] == pytest.approx(0.5 * 0.25 / 0.6, rel=1e-5)  # stretched by min-max
    assert clip["c"] == pytest.approx(0.5 * 0.001, rel=1e-5)        # below L: the floor
    assert apply["c"] == pytest.approx(plain["c"], rel=1e-6)        # below L, apply keeps min_j
    # "none" is exactly the settings with both bounds ignored
    ignore = LowerBound(mode="ignore")
    assert HybridSettings(lower_bound_mode="none").bounds() == [ignore, ignore]


def test_clip_with_every_dense_hit_below_the_bound_equals_plain_min_max():
    legs = [[("a", 5.0), ("b", 1.0)], [("b", 0.58), ("c", 0.55)]]
    plain = fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none"))
    clip = fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="clip", dense_lower_bound=0.6))
    assert clip == plain
    assert dict(plain)["b"] == pytest.approx(0.5 * 0.001 + 0.5 * 1.0, rel=1e-5)


def test_min_score_keeps_combined_scores_at_or_above_it():
    legs = [[("a", 2.0), ("b", 1.0)], [("c", 0.875), ("d", 0.125)]]
    kept = fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none", min_score=0.5))
    assert kept == [("a", 0.5), ("c", 0.5)]  # == min_score is kept; b and d (0.0005) are dropped
    assert fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none", min_score=0.51)) == []
    assert len(fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none"))) == 4


def test_ties_go_to_the_best_leg_rank_then_bm25():
    # a: 0.5·1; d: 0.5·1; c: 0.5·0.5 + 0.5·0.5; b: 0.5·0.75; f, e: 0.5·0.001 (all exact in float32)
    legs = [[("a", 4.0), ("b", 3.0), ("c", 2.0), ("e", 0.0)], [("d", 0.875), ("c", 0.5), ("f", 0.125)]]
    got = fuse(legs, HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none"))
    assert got == [("a", 0.5), ("d", 0.5), ("c", 0.5), ("b", 0.375), ("f", 0.0005), ("e", 0.0005)]
    # a: BM25 rank 0; d: dense rank 0; c: best rank 1 (dense); f: dense rank 2 before e: BM25 rank 3


def test_fuse_rejects_malformed_legs():
    s = HybridSettings(lower_bound_mode="none")
    with pytest.raises(ValueError, match="twice"):
        fuse([[("a", 1.0), ("a", 0.5)], []], s)
    with pytest.raises(ValueError, match="expected 2 legs"):
        fuse([[("a", 1.0)]], s)
    assert fuse([[], []], s) == []
    assert fuse([[("a", 3.0)], []], s) == [("a", 0.3)]  # one BM25 hit: 1.0, times its weight


# --- settings ------------------------------------------------------------------------------------

def test_weights_are_validated_like_score_combination_util():
    with pytest.raises(ValidationError, match="sum of weights"):
        HybridSettings(weights=(0.5, 0.6), lower_bound_mode="none")
    with pytest.raises(ValidationError, match=r"range \[0.0 ... 1.0\]"):
        HybridSettings(weights=(1.5, -0.5), lower_bound_mode="none")
    HybridSettings(weights=(0.41, 0.6), lower_bound_mode="none")  # float sum 1.01: within the 0.01f delta
    HybridSettings(weights=(0.99, 0.0), lower_bound_mode="none")
    for bad in [(0.42, 0.6), (0.98, 0.0)]:
        with pytest.raises(ValueError, match="sum of weights"):
            validate_weights(bad)


def test_settings_need_a_dense_bound_unless_none_and_reject_unknown_fields():
    with pytest.raises(ValidationError, match="needs dense_lower_bound"):
        HybridSettings(lower_bound_mode="apply")
    with pytest.raises(ValidationError, match="extra"):
        HybridSettings(lower_bound_mode="none", weight=(0.5, 0.5))
    with pytest.raises(ValidationError):
        HybridSettings(lower_bound_mode="none", pagination_depth=0)
    with pytest.raises(ValidationError):
        HybridSettings(lower_bound_mode="none", pagination_depth=10001)
    with pytest.raises(ValidationError, match="finite"):
        HybridSettings(lower_bound_mode="none", min_score=float("nan"))
    with pytest.raises(ValidationError):
        HybridSettings(lower_bound_mode="clip", dense_lower_bound=20000.0)
    with pytest.raises(ValidationError):
        LowerBound(mode="apply", min_score=-10001)
    assert HybridSettings(dense_lower_bound=0.8).bounds() == [LowerBound(mode="ignore"),
                                                             LowerBound(mode="apply", min_score=0.8)]
    # a manifest round trip gives the same settings
    s = HybridSettings(lower_bound_mode="clip", dense_lower_bound=0.61, min_score=0.2, pagination_depth=50)
    assert HybridSettings(**s.model_dump(mode="json")) == s


def test_search_pipeline_body_has_one_bound_per_sub_query():
    def expected(bounds, weights):
        return {"description": "mros test", "phase_results_processors": [{"normalization-processor": {
            "normalization": {"technique": "min_max", "parameters": {"lower_bounds": bounds}},
            "combination": {"technique": "arithmetic_mean", "parameters": {"weights": weights}}}}]}

    clip = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="clip", dense_lower_bound=0.61)
    assert search_pipeline_body(clip, "mros test") == expected(
        [{"mode": "ignore"}, {"mode": "clip", "min_score": 0.61}], [0.3, 0.7])
    apply = HybridSettings(weights=(0.45, 0.55), dense_lower_bound=0.8)
    assert search_pipeline_body(apply, "mros test") == expected(
        [{"mode": "ignore"}, {"mode": "apply", "min_score": 0.8}], [0.45, 0.55])
    plain = HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none", dense_lower_bound=0.8)
    body = search_pipeline_body(plain, "mros test")
    assert body == expected([{"mode": "ignore"}, {"mode": "ignore"}], [0.5, 0.5])
    params = body["phase_results_processors"][0]["normalization-processor"]
    assert len(params["normalization"]["parameters"]["lower_bounds"]) == 2  # == number of sub-queries
    assert sum(params["combination"]["parameters"]["weights"]) == pytest.approx(1.0)


def test_module_example_runs():
    assert doctest.testmod(fusion).failed == 0


def _combine_one_doc_at_a_time(normalized, weights):
    """The engine's loop, document by document in float32 scalars (the reference the array version follows)."""
    import numpy as np

    w32 = [np.float32(w) for w in weights]
    out = {}
    for doc in dict.fromkeys(d for leg in normalized for d in leg):
        total, sum_w = np.float32(0.0), np.float32(0.0)
        for leg, w in zip(normalized, w32, strict=True):
            n = np.float32(leg.get(doc, 0.0))
            if n >= 0.0:
                total = np.float32(total + np.float32(n * w))
                sum_w = np.float32(sum_w + w)
        out[doc] = 0.0 if sum_w == 0.0 else float(str(np.float32(total / sum_w)))
    return out


def test_the_array_combination_equals_the_engines_loop_to_the_bit():
    import numpy as np

    from mr_opensearch.search.fusion import combine_arithmetic_mean

    rng = np.random.default_rng(11)
    for trial in range(200):
        docs = [f"d{i}" for i in range(int(rng.integers(1, 60)))]
        legs = []
        for _ in range(2):
            chosen = rng.choice(docs, size=int(rng.integers(0, len(docs) + 1)), replace=False)
            legs.append({d: float(str(np.float32(v))) for d, v in zip(chosen, rng.random(len(chosen)), strict=True)})
        weights = (0.3, 0.7) if trial % 2 else (0.55, 0.45)
        assert combine_arithmetic_mean(legs, weights) == _combine_one_doc_at_a_time(legs, weights)


def _normalize_one_score_at_a_time(scores, bound):
    """The engine's per-score loop in float32 scalars (the reference the array version follows)."""
    import numpy as np

    from mr_opensearch.search.fusion import MIN_SCORE, SINGLE_RESULT_SCORE, _out, _same

    if len(scores) == 0:
        return []
    values = [np.float32(s) for s in scores]
    lo, hi = min(values), max(values)
    mode = bound.mode if bound is not None else "ignore"
    limit = np.float32(bound.min_score) if bound is not None else np.float32(0.0)
    out: list[float] = []
    for s in values:
        if _same(hi, lo) and _same(hi, s):
            out.append(_out(SINGLE_RESULT_SCORE))
            continue
        if mode == "apply":
            eff_min = limit if (hi > limit and s > limit) else lo
        elif mode == "clip":
            eff_min = lo if hi < limit else limit
        else:
            eff_min = lo
        if mode == "clip" and s < eff_min:
            out.append(_out(MIN_SCORE))
            continue
        if _same(hi, eff_min):
            out.append(_out(SINGLE_RESULT_SCORE))
            continue
        n = np.float32(np.float32(s - eff_min) / np.float32(hi - eff_min))
        out.append(_out(MIN_SCORE if n == 0.0 else n))
    return out


def test_the_array_normalization_equals_the_engines_loop_to_the_bit():
    import numpy as np

    from mr_opensearch.search.fusion import LowerBound, normalize_min_max

    rng = np.random.default_rng(5)
    bounds = [None, LowerBound(mode="ignore"), LowerBound(mode="apply", min_score=0.6),
              LowerBound(mode="clip", min_score=0.6), LowerBound(mode="apply", min_score=0.99),
              LowerBound(mode="clip", min_score=0.1)]
    for trial in range(300):
        size = int(rng.integers(1, 40))
        scores = (rng.random(size) * 0.5 + 0.5).tolist()
        if trial % 7 == 0:
            scores = [scores[0]] * size  # every score equal
        if trial % 11 == 0:
            scores[0] = 0.6  # a score on the bound
        for bound in bounds:
            assert normalize_min_max(scores, bound) == _normalize_one_score_at_a_time(scores, bound), (scores, bound)


def _fuse_document_by_document(legs, settings):
    """The fusion written as the steps read: each leg's decimals, the combination's decimals, a sort of
    Python floats (what ``fuse_explained`` computed before it kept float32 arrays to the end)."""
    normalized = [dict(zip([d for d, _ in leg], normalize_min_max([s for _, s in leg], bound), strict=True))
                  for leg, bound in zip(legs, settings.bounds(), strict=True)]
    best: dict[str, tuple[int, int]] = {}
    for j, leg in enumerate(legs):
        for rank, (doc, _) in enumerate(leg):
            best[doc] = min(best.get(doc, (rank, j)), (rank, j))
    combined = combine_arithmetic_mean(normalized, settings.weights)
    if settings.min_score is not None:
        combined = {d: s for d, s in combined.items() if np.float32(s) >= np.float32(settings.min_score)}
    ranked = sorted(combined.items(), key=lambda item: (-item[1], best[item[0]]))
    return [(doc, score, tuple(leg.get(doc) for leg in normalized)) for doc, score in ranked]


@pytest.mark.parametrize("mode", ["none", "apply", "clip"])
def test_the_array_fusion_ranks_and_scores_as_the_document_by_document_steps(mode):
    """Random legs with shared documents, ties (scores drawn from a few values) and a min_score cut: the
    same documents, scores, per-leg normalized values and order, whole and cut to a size."""
    rng = np.random.default_rng({"none": 1, "apply": 2, "clip": 3}[mode])
    for _ in range(200):
        docs = [f"d{i}" for i in range(int(rng.integers(1, 80)))]
        legs = []
        for levels in (rng.choice([0.0, 1.5, 3.0, 7.25], 4), rng.choice([0.25, 0.5, 0.625, 0.9], 4)):
            chosen = rng.choice(docs, size=int(rng.integers(0, len(docs) + 1)), replace=False)
            scores = sorted((float(rng.choice(levels)) if rng.random() < 0.5 else float(rng.random() * 8)
                             for _ in chosen), reverse=True)
            legs.append(list(zip(chosen.tolist(), scores, strict=True)))
        settings = HybridSettings(weights=(0.3, 0.7), lower_bound_mode=mode,
                                  dense_lower_bound=None if mode == "none" else 0.5,
                                  min_score=float(rng.choice([0.0, 0.1, 0.3])) if rng.random() < 0.4 else None)
        expected = _fuse_document_by_document(legs, settings)
        assert fusion.fuse_explained(legs, settings) == expected
        size = int(rng.integers(1, 12))
        assert fusion.fuse_explained(legs, settings, size) == expected[:size]
        assert fuse(legs, settings, size) == [(d, s) for d, s, _ in expected[:size]]
