"""Hybrid fusion computed in mros exactly as neural-search 3.5's ``normalization-processor`` does it.

Per sub-query ``j`` (``MinMaxScoreNormalizationTechnique``, neural-search tag 3.5.0.0), with
``min_j`` / ``max_j`` the smallest and largest raw scores that sub-query returned and ``L`` its
lower bound::

    if max_j == min_j == s                 -> 1.0            (checked before any bound)
    effMin = min_j                          no bound / ignore
             L if (max_j > L and s > L) else min_j           apply
             min_j if max_j < L else L                       clip
    if clip and s < effMin                 -> 0.001
    if effMax == effMin                    -> 1.0
    n = (s - effMin) / (effMax - effMin);  n == 0 -> 0.001

Combination (``ArithmeticMeanScoreCombinationTechnique``): ``Σ_j w_j·n_j / Σ_j w_j`` where a document
a sub-query did not return has ``n_j = 0`` and its weight still counts. Weights lie in [0, 1] and sum
to 1 ± 0.01 (``ScoreCombinationUtil``). From 3.5 a request's top-level ``min_score`` keeps only
documents whose combined score is at least that. The formulas are transcribed from
``../shared/reference/opensearch-3.5-serving.md`` §1.2–1.4, which cites those files.

The dense leg's lower bound is the learned partial boundary in engine score, so a vector hit below
the irrelevant/partial line is not stretched upward by min-max. Scores are computed in float32, as
the Java code does.

Example::

    >>> s = HybridSettings(weights=(0.5, 0.5), lower_bound_mode="none")
    >>> fuse([[("a", 10.0), ("b", 5.0)], [("b", 0.9), ("c", 0.8)]], s)
    [('b', 0.5005000233650208), ('a', 0.5), ('c', 0.0005000000237487257)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mr_opensearch.templates import render

SINGLE_RESULT_SCORE = 1.0
MIN_SCORE = 0.001


class LowerBound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["apply", "clip", "ignore"] = "apply"
    min_score: float = Field(0.0, ge=-10000, le=10000)

    def body(self) -> dict:
        return {"mode": "ignore"} if self.mode == "ignore" else {"mode": self.mode, "min_score": self.min_score}


class HybridSettings(BaseModel):
    """How BM25 and dense hits are blended (both modes use the same settings)."""

    model_config = ConfigDict(extra="forbid")
    weights: tuple[float, float] = Field((0.3, 0.7), description="(bm25, dense); each in [0, 1], summing to 1")
    lower_bound_mode: Literal["apply", "clip", "none"] = "apply"
    dense_lower_bound: float | None = Field(None, description="engine score; the partial boundary by default")
    min_score: float | None = Field(None, ge=0.0, le=1.0, description="cut-off on the combined score (3.5+)")
    pagination_depth: int = Field(100, ge=1, le=10000)

    @model_validator(mode="after")
    def _check(self) -> HybridSettings:
        if any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ValueError(f"each weight must lie in [0, 1], got {list(self.weights)}")
        if abs(sum(self.weights) - 1.0) > 0.01:
            raise ValueError(f"weights must sum to 1 (± 0.01), got {sum(self.weights):.3f}")
        if self.lower_bound_mode != "none" and self.dense_lower_bound is None:
            raise ValueError(f"lower_bound_mode {self.lower_bound_mode!r} needs dense_lower_bound")
        return self

    def bounds(self) -> list[LowerBound]:
        """One bound per sub-query: BM25 ignored, the dense leg bounded (or ignored for plain min-max)."""
        dense = (LowerBound(mode="ignore") if self.lower_bound_mode == "none"
                 else LowerBound(mode=self.lower_bound_mode, min_score=float(self.dense_lower_bound)))  # type: ignore[arg-type]
        return [LowerBound(mode="ignore"), dense]


def normalize_min_max(scores: Sequence[float], bound: LowerBound | None) -> list[float]:
    if not len(scores):
        return []
    values = np.asarray(scores, dtype=np.float32)
    lo, hi = np.float32(values.min()), np.float32(values.max())
    mode = bound.mode if bound is not None else "ignore"
    limit = np.float32(bound.min_score if bound is not None else 0.0)
    out = []
    for s in values:
        if hi == lo == s:
            out.append(SINGLE_RESULT_SCORE)
            continue
        if mode == "apply":
            eff_min = limit if (hi > limit and s > limit) else lo
        elif mode == "clip":
            eff_min = lo if hi < limit else limit
        else:
            eff_min = lo
        if mode == "clip" and s < eff_min:
            out.append(MIN_SCORE)
            continue
        if hi == eff_min:
            out.append(1.0)
            continue
        n = np.float32((s - eff_min) / (hi - eff_min))
        out.append(MIN_SCORE if n == 0.0 else float(n))
    return out


def combine_arithmetic_mean(normalized: Sequence[Mapping[str, float]], weights: Sequence[float]) -> dict[str, float]:
    total = float(sum(weights))
    docs = list(dict.fromkeys(d for leg in normalized for d in leg))
    if total == 0.0:
        return dict.fromkeys(docs, 0.0)
    return {d: float(np.float32(sum(w * leg.get(d, 0.0) for leg, w in zip(normalized, weights, strict=True)) / total))
            for d in docs}


def fuse(legs: Sequence[Sequence[tuple[str, float]]], settings: HybridSettings) -> list[tuple[str, float]]:
    """``legs[0]`` BM25 hits, ``legs[1]`` dense hits, each ``(doc id, raw score)`` in rank order.

    Returns every document, best first, after the ``min_score`` cut; ties keep first appearance
    (BM25 leg first, then dense)."""
    normalized = []
    for leg, bound in zip(legs, settings.bounds(), strict=True):
        values = normalize_min_max([score for _, score in leg], bound)
        normalized.append({doc: value for (doc, _), value in zip(leg, values, strict=True)})
    combined = combine_arithmetic_mean(normalized, settings.weights)
    order = {doc: i for i, doc in enumerate(combined)}
    ranked = sorted(combined.items(), key=lambda item: (-item[1], order[item[0]]))
    if settings.min_score is not None:
        ranked = [(d, s) for d, s in ranked if s >= settings.min_score]
    return ranked


def search_pipeline_body(settings: HybridSettings, description: str) -> dict:
    """The ``normalization-processor`` search pipeline of ``pipelines/hybrid-search.json``."""
    return render("pipelines", "hybrid-search", description=description,
                  lower_bounds=[b.body() for b in settings.bounds()], weights=list(settings.weights))
