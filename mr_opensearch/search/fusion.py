"""Hybrid fusion computed in mros exactly as neural-search 3.5's ``normalization-processor`` does it.

Client mode sends the BM25 leg and the dense leg in one ``_msearch`` and fuses them here; engine mode
PUTs the same settings as a search pipeline (:func:`search_pipeline_body`), so both rank alike for the
same leg results.

**Inputs.** For each sub-query ``j`` (0 = BM25 ``match``, 1 = dense ``knn``/``neural``), the raw
scores of every document it returned (``pagination_depth`` of them), with ``min_j`` / ``max_j`` their
smallest and largest, and a lower bound ``L`` with mode ``apply | clip | ignore`` (the dense leg's
``L`` is the learned partial boundary in engine score, ``(1 + cos) / 2`` for lucene ``cosinesimil``;
BM25 is always ``ignore``).

**min_max normalization** (``MinMaxScoreNormalizationTechnique.normalizeSingleScore``), per score ``s``::

    1. if max_j == min_j == s        -> 1.0                  (single result; checked BEFORE bounds)
    2. effMin = min_j                                        ignore (or no bound)
              = L if (max_j > L and s > L) else min_j        apply  (not monotone around L)
              = min_j if max_j < L else L                    clip   (a no-op when every score < L)
       effMax = max_j                                        (mros sets no upper bound)
    3. if clip and s < effMin        -> 0.001                (MIN_SCORE; the docs wrongly say 0.0)
    4. if effMax == effMin           -> 1.0
    5. n = (s - effMin) / (effMax - effMin);  n == 0 -> 0.001

**arithmetic_mean combination** (``ArithmeticMeanScoreCombinationTechnique.combine``)::

    combined = Σ_{j: n_j >= 0} w_j · n_j / Σ_{j: n_j >= 0} w_j          (Σ w_j == 0 -> 0.0)

A document a sub-query did not return has ``n_j = 0.0`` (``ScoreCombiner.getNormalizedScoresPerDocument``
fills a ``new float[n]``), so its weight stays in the denominator: with weights summing to 1 the
combined score is ``Σ_j w_j · n_j``. Weights (``ScoreCombinationUtil``): each in [0.0, 1.0], their
float sum within 0.01 of 1.0 (Guava ``DoubleMath.fuzzyEquals``), one per sub-query.

**min_score** (3.5.0+, PR #1726): the request's top-level ``min_score`` keeps only documents whose
*combined* score is ``>= min_score`` (``ScoreCombiner``); bounds themselves never drop documents.

**Float32.** The Java code works in ``float``: raw scores, bounds (``Float.parseFloat``), weights
(``Double::floatValue``), every subtraction, division, product and running sum is rounded to float32,
and so is each step here (numpy ``float32`` scalars, IEEE round-to-nearest like Java). Raw scores read
from JSON are rounded to float32 first, which recovers the engine's exact float. Returned scores are
the float32 results written as the shortest decimal that identifies them (``str(np.float32(x))``),
i.e. what a client parses from the engine's ``_score``; ``np.float32(returned)`` is the exact float.

**Order.** Combined score descending. Ties (e.g. several 1.0 single results or 0.001 floors) are broken
deterministically by the document's best rank in any leg, then by leg (BM25 before dense at the same
rank). The engine breaks ties by internal Lucene doc id, which a client cannot see, so tied documents
are the one place the two modes may order differently.

**Caveat.** The engine's ``min_j`` / ``max_j`` are taken over every shard's top ``pagination_depth``
hits; a client leg is the index-wide top ``pagination_depth``. They are the same set on a one-shard
index (what mros creates); on more shards pass each leg's per-shard hits to get identical numbers.

**Sources**, read at neural-search tag ``3.5.0.0`` (commit ``0a5975c4``) in its git history, under
``src/main/java/org/opensearch/neuralsearch/processor/``:
``normalization/MinMaxScoreNormalizationTechnique.java``
(normalizeSingleScore, isSingleScore, calculateNormalizedScore, MIN_SCORE = 0.001f, getMin/MaxScores),
``normalization/bounds/{LowerBound,ScoreBound,BoundMode}.java`` (the effMin switch, clip test, default
mode apply, default min_score 0.0, range ±10000), ``combination/ArithmeticMeanScoreCombinationTechnique.java``
(float sums, ``score >= 0.0``, zero weight sum -> 0.0), ``combination/ScoreCombinationUtil.java``
(weight range, 0.01 sum tolerance, count check) and ``combination/ScoreCombiner.java`` (absent doc ->
0.0, ``>= minScore`` filter, sort by combined score). All agree with
``../shared/reference/opensearch-3.5-serving.md`` §1.1-1.5.

Example (weights 0.3 / 0.7, the dense leg bounded with ``apply`` at engine score 0.5)::

    >>> s = HybridSettings(weights=(0.3, 0.7), lower_bound_mode="apply", dense_lower_bound=0.5)
    >>> fuse([[("a", 12.0), ("b", 8.0), ("c", 4.0)], [("b", 0.9), ("d", 0.6), ("a", 0.2)]], s)
    [('b', 0.85), ('a', 0.3007), ('d', 0.17500006), ('c', 0.0003)]

``b``: 0.3 · (8-4)/(12-4) + 0.7 · (0.9-0.5)/(0.9-0.5); ``a``: 0.3 · 1 + 0.7 · 0.001 (0.2 is the dense
minimum and not above L, so it keeps min_j and hits the 0.001 floor); ``d``: 0.7 · (0.6-0.5)/0.4, which
is 0.17500006 in float32, as the engine returns it; ``c``: 0.3 · 0.001 (the BM25 minimum) + 0.7 · 0
(absent from the dense leg).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mr_opensearch.core.templates import render

SINGLE_RESULT_SCORE = np.float32(1.0)   # MinMaxScoreNormalizationTechnique.SINGLE_RESULT_SCORE
MIN_SCORE = np.float32(0.001)           # MinMaxScoreNormalizationTechnique.MIN_SCORE
WEIGHTS_SUM_DELTA = float(np.float32(0.01))  # ScoreCombinationUtil.DELTA_FOR_WEIGHTS_ASSERTION (0.01f)
BOUND_RANGE = 10_000.0                  # ScoreBound.MIN/MAX_BOUND_SCORE


def _out(x: np.float32) -> float:
    """A float32 result as the shortest decimal naming it (what the engine's JSON ``_score`` reads as)."""
    return float(str(np.float32(x)))


def _same(a: np.float32, b: np.float32) -> bool:
    """``Float.compare(a, b) == 0`` (Guava ``Floats.compare``): ``==``, but NaN equals NaN, -0.0 != 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return bool(a == b) and math.copysign(1.0, a) == math.copysign(1.0, b)


class LowerBound(BaseModel):
    """One ``lower_bounds`` entry of the min_max technique (``bounds/LowerBound.java``)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["apply", "clip", "ignore"]
    min_score: float = Field(0.0, ge=-BOUND_RANGE, le=BOUND_RANGE)

    def body(self) -> dict:
        """The pipeline JSON: ``{"mode": "ignore"}`` or ``{"mode": m, "min_score": L}``."""
        if self.mode == "ignore":
            return {"mode": "ignore"}
        return {"mode": self.mode, "min_score": self.min_score}


def validate_weights(weights: Sequence[float]) -> None:
    """``ScoreCombinationUtil.validateWeights``: each float32 weight in [0, 1], their float32 sum 1 ± 0.01."""
    as_f32 = [np.float32(w) for w in weights]
    if any(not (0.0 <= w <= 1.0) for w in as_f32):
        raise ValueError(f"all weights must be in range [0.0 ... 1.0], submitted weights: {list(weights)}")
    total = np.float32(0.0)
    for w in as_f32:
        total = np.float32(total + w)
    if not (abs(1.0 - float(total)) <= WEIGHTS_SUM_DELTA or float(total) == 1.0):
        raise ValueError(f"sum of weights for combination must be equal to 1.0 (± 0.01), submitted weights: "
                         f"{list(weights)} (sum {float(total):.4f})")


class HybridSettings(BaseModel):
    """How the BM25 and dense legs are blended; the same settings drive client and engine mode.

    ``weights``: (bm25, dense). ``lower_bound_mode`` applies to the dense leg only (BM25 is always
    ``ignore``); ``none`` is plain min-max. ``dense_lower_bound`` is an engine score (the partial
    boundary, ``(1 + cos) / 2``), required unless the mode is ``none``. ``min_score`` is the cut-off
    on the combined score (neural-search 3.5+). ``pagination_depth``: hits per leg.
    """

    model_config = ConfigDict(extra="forbid")
    weights: tuple[float, float] = Field((0.3, 0.7),
                                         description="(bm25, dense); each in [0, 1], summing to 1 ± 0.01")
    lower_bound_mode: Literal["apply", "clip", "none"] = "apply"
    dense_lower_bound: float | None = Field(None, ge=-BOUND_RANGE, le=BOUND_RANGE,
                                            description="engine score: (1 + cos) / 2 of the partial boundary")
    min_score: float | None = Field(None, description="cut-off on the combined score (neural-search 3.5+)")
    pagination_depth: int = Field(100, ge=1, le=10000)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: tuple[float, float]) -> tuple[float, float]:
        validate_weights(value)
        return value

    @field_validator("min_score")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"min_score must be a finite number, got {value}")
        return value

    @model_validator(mode="after")
    def _bound_given(self) -> HybridSettings:
        if self.lower_bound_mode != "none" and self.dense_lower_bound is None:
            raise ValueError(f"lower_bound_mode {self.lower_bound_mode!r} needs dense_lower_bound "
                             "(the partial boundary in engine score), or use lower_bound_mode 'none'")
        return self

    def bounds(self) -> list[LowerBound]:
        """One bound per sub-query: BM25 ``ignore``; the dense leg bounded (``ignore`` for plain min-max)."""
        if self.lower_bound_mode == "none" or self.dense_lower_bound is None:
            dense = LowerBound(mode="ignore")
        else:
            dense = LowerBound(mode=self.lower_bound_mode, min_score=self.dense_lower_bound)
        return [LowerBound(mode="ignore"), dense]


def normalize_min_max(scores: Sequence[float], bound: LowerBound | None) -> list[float]:
    """min_max-normalise one sub-query's raw scores (all the documents it returned), as the engine does.

    ``bound=None`` is a disabled bound (no ``lower_bounds`` given), which behaves like ``ignore``. Computed
    on float32 arrays with the engine's operations and its order of cases (tested against the engine's
    per-document loop to the bit).
    """
    return [_out(x) for x in _normalized(scores, bound)]


def _normalized(scores: Sequence[float], bound: LowerBound | None) -> np.ndarray:
    """:func:`normalize_min_max` as a float32 array (not yet turned into decimals)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.float32)
    values = np.asarray(scores, dtype=np.float32)
    lo, hi = values.min(), values.max()
    mode = bound.mode if bound is not None else "ignore"
    limit = np.float32(bound.min_score) if bound is not None else np.float32(0.0)
    if mode == "apply":
        eff_min = np.where((hi > limit) & (values > limit), limit, lo).astype(np.float32)
    else:
        eff_min = np.full(values.shape, lo if mode != "clip" or hi < limit else limit, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = ((values - eff_min).astype(np.float32) / (hi - eff_min).astype(np.float32)).astype(np.float32)
    # the engine's cases, the last applied here being its first
    n = np.where(n == 0.0, MIN_SCORE, n)
    n = np.where(_same_array(hi, eff_min), SINGLE_RESULT_SCORE, n)
    if mode == "clip":
        n = np.where(values < eff_min, MIN_SCORE, n)
    n = np.where(_same_array(hi, lo) & _same_array(hi, values), SINGLE_RESULT_SCORE, n)
    return n.astype(np.float32)


def _same_array(a: Any, b: Any) -> np.ndarray:
    """:func:`_same` element by element."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


def combine_arithmetic_mean(normalized: Sequence[Mapping[str, float]],
                            weights: Sequence[float]) -> dict[str, float]:
    """Weighted arithmetic mean per document over the legs (``normalized[j]``: doc id -> n_j).

    A document missing from leg ``j`` counts as 0.0 with ``w_j`` still in the denominator; negative
    ``n_j`` (only z_score produces them) are left out together with their weight; no weights means
    1.0 each. Documents come out in order of first appearance (leg 0, then leg 1, ...).
    """
    if weights and len(weights) != len(normalized):
        raise ValueError(f"number of weights [{len(weights)}] must match "
                         f"number of sub-queries [{len(normalized)}]")
    docs = list(dict.fromkeys(d for leg in normalized for d in leg))
    position = {doc: i for i, doc in enumerate(docs)}
    matrix = np.zeros((len(normalized), len(docs)), dtype=np.float32)
    for j, leg in enumerate(normalized):
        if leg:
            matrix[j, [position[doc] for doc in leg]] = np.asarray(list(leg.values()), dtype=np.float32)
    mean = _weighted_mean(matrix, weights)
    return {doc: _out(mean[i]) for i, doc in enumerate(docs)}


def _weighted_mean(matrix: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """The arithmetic mean of ``matrix``'s columns (legs x documents, 0.0 where a leg missed a document)
    with ``weights``, in float32: the same IEEE float32 operations, in the same order, as the engine's
    per-document loop; 0.0 where no weight counted."""
    w32 = [np.float32(w) for w in weights] if weights else [np.float32(1.0)] * len(matrix)
    total = np.zeros(matrix.shape[1], dtype=np.float32)
    sum_w = np.zeros(matrix.shape[1], dtype=np.float32)
    for n, w in zip(matrix, w32, strict=True):
        counted = n >= 0.0
        total = np.where(counted, total + n * w, total).astype(np.float32)
        sum_w = np.where(counted, sum_w + w, sum_w).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (total / sum_w).astype(np.float32)
    return np.where(sum_w == 0.0, np.float32(0.0), mean).astype(np.float32)


def fuse(legs: Sequence[Sequence[tuple[str, float]]], settings: HybridSettings,
         size: int | None = None) -> list[tuple[str, float]]:
    """Fuse ``legs[0]`` (BM25 hits) and ``legs[1]`` (dense hits), each ``(doc id, raw score)`` in rank order.

    Each leg is normalised with its bound (:meth:`HybridSettings.bounds`), the legs are combined with
    ``settings.weights``, documents with a combined score below ``settings.min_score`` are dropped, and
    the rest are returned best first (ties: best rank in any leg, then BM25 before dense): every
    surviving document, or the best ``size``.
    """
    return [(doc, score) for doc, score, _ in fuse_explained(legs, settings, size)]


def fuse_explained(legs: Sequence[Sequence[tuple[str, float]]], settings: HybridSettings,
                   size: int | None = None) -> list[tuple[str, float, tuple[float | None, ...]]]:
    """:func:`fuse`, with each document's normalized score in every leg (None where the leg did not
    return it): ``(doc id, combined score, (bm25 normalized, dense normalized))``, best first.

    The scores stay float32 arrays until the ranking is made; only the ``size`` documents returned are
    turned into decimals (what a search of ``k`` hits pays for: a few dozen conversions, not one per
    document of both legs). Ranking float32 values and ranking their decimals give the same order, as the
    shortest decimal of a float32 preserves order and equality."""
    bounds = settings.bounds()
    if len(legs) != len(bounds):
        raise ValueError(f"expected {len(bounds)} legs (bm25, dense), got {len(legs)}")
    column: dict[str, int] = {}
    best: list[tuple[int, int]] = []
    placed: list[tuple[list[int], np.ndarray]] = []
    for j, (leg, bound) in enumerate(zip(legs, bounds, strict=True)):
        positions: list[int] = []
        seen: set[str] = set()
        for rank, (doc, _) in enumerate(leg):
            if doc in seen:
                raise ValueError(f"document {doc!r} appears twice in leg {j}")
            seen.add(doc)
            i = column.get(doc)
            if i is None:
                i = column[doc] = len(best)
                best.append((rank, j))
            elif (rank, j) < best[i]:
                best[i] = (rank, j)
            positions.append(i)
        placed.append((positions, _normalized([score for _, score in leg], bound)))
    matrix = np.zeros((len(legs), len(best)), dtype=np.float32)
    returned = np.zeros((len(legs), len(best)), dtype=bool)
    for j, (positions, values) in enumerate(placed):
        matrix[j, positions] = values
        returned[j, positions] = True
    mean = _weighted_mean(matrix, settings.weights)
    kept = np.arange(len(best))
    if settings.min_score is not None:
        kept = kept[mean >= np.float32(settings.min_score)]
    ranks = np.asarray([b[0] for b in best], dtype=np.int64)
    firsts = np.asarray([b[1] for b in best], dtype=np.int64)
    order = kept[np.lexsort((firsts[kept], ranks[kept], -mean[kept]))]
    if size is not None:
        order = order[:size]
    docs = list(column)
    return [(docs[i], _out(mean[i]),
             tuple(_out(matrix[j, i]) if returned[j, i] else None for j in range(len(legs))))
            for i in order]


def search_pipeline_body(settings: HybridSettings, description: str) -> dict:
    """The ``normalization-processor`` search pipeline (``pipelines/hybrid-search.json``) for ``settings``:
    min_max with one lower bound per sub-query, arithmetic_mean with the (bm25, dense) weights."""
    return render("pipelines", "hybrid-search", description=description,
                  lower_bounds=[b.body() for b in settings.bounds()], weights=list(settings.weights))
