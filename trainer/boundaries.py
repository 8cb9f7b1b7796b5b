"""Learned grade boundaries: two cosine thresholds that turn a score into a grade.

Given validation pairs with scores :math:`s` and grades :math:`g`, find :math:`t_p < t_e` so that

.. math::  \\hat g(s) = 2 \\;[s \\ge t_e], \\quad 1 \\;[t_p \\le s < t_e], \\quad 0 \\;[s < t_p]

maximises the criterion over the validation pairs. Criteria: ``accuracy`` (default: the share of
pairs whose thresholded grade is right), ``balanced_accuracy`` (mean per-grade recall; use when one
grade dominates) or ``macro_f1``. The search is exhaustive over candidate thresholds at the score
quantiles (``candidates`` per threshold), so the result is exact up to that grid.

``RUN/boundaries.json`` holds ``{"partial": t_p, "exact": t_e, "criterion", "value", "accuracy",
"confusion", "quantiles", "n"}``; the OpenSearch side converts these cosines to engine scores. A run's file
also holds ``"compared"``: the boundaries of every model the run learned them for (``stage2``,
``stage1``, ``base``, ...), which :func:`model_boundaries` picks by model name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np

from mr_opensearch.core.errors import MrosError

Criterion = Literal["accuracy", "balanced_accuracy", "macro_f1"]


def grade_by_thresholds(scores: np.ndarray, partial: float, exact: float) -> np.ndarray:
    scores = np.asarray(scores)
    return np.where(scores >= exact, 2, np.where(scores >= partial, 1, 0))


def _confusions(grades: np.ndarray, scores: np.ndarray, t_p: np.ndarray, t_e: np.ndarray) -> np.ndarray:
    """Confusion counts [n_candidates, true 3, predicted 3] for each (t_p, t_e) candidate pair, via
    sorted cumulative counts (no per-candidate pass over the data)."""
    order = np.argsort(scores)
    s, g = scores[order], grades[order]
    cum = np.stack([np.concatenate([[0], np.cumsum(g == k)]) for k in range(3)])  # [3, n+1]: count below index
    below_p = np.searchsorted(s, t_p, side="left")  # items with score < t_p
    below_e = np.searchsorted(s, t_e, side="left")
    total = cum[:, -1][None, :]  # [1, 3]
    pred0 = cum[:, below_p].T  # [C, 3 true]
    pred_lt_e = cum[:, below_e].T
    pred1 = pred_lt_e - pred0
    pred2 = total - pred_lt_e
    return np.stack([pred0, pred1, pred2], axis=2)  # [C, true, pred]


def _criterion(conf: np.ndarray, criterion: Criterion) -> np.ndarray:
    diag = np.stack([conf[:, k, k] for k in range(3)], axis=1).astype(float)
    if criterion == "accuracy":
        return diag.sum(1) / conf.sum((1, 2))
    true_tot = conf.sum(2).astype(float)
    recall = np.divide(diag, true_tot, out=np.zeros_like(diag), where=true_tot > 0)
    if criterion == "balanced_accuracy":
        present = (true_tot > 0).sum(1)
        return recall.sum(1) / np.maximum(present, 1)
    pred_tot = conf.sum(1).astype(float)
    precision = np.divide(diag, pred_tot, out=np.zeros_like(diag), where=pred_tot > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(diag), where=(precision + recall) > 0)
    return f1.mean(1)


def learn_boundaries(scores, grades, criterion: Criterion = "accuracy", candidates: int = 200) -> dict:
    """Learn ``{"partial": t_p, "exact": t_e, ...}`` from validation scores and grades (0/1/2)."""
    scores = np.asarray(scores, dtype=np.float64)
    grades = np.asarray(grades, dtype=np.int64)
    if scores.shape != grades.shape or scores.ndim != 1:
        raise MrosError("boundaries need one score per graded pair")
    if len(scores) < 3 or len(np.unique(grades)) < 2:
        raise MrosError("too few validation pairs to learn boundaries",
                        "use a validation split with pairs of at least two grades")
    if criterion not in ("accuracy", "balanced_accuracy", "macro_f1"):
        raise MrosError(f"unknown boundary criterion {criterion!r}", "use accuracy, balanced_accuracy or macro_f1")
    grid = np.unique(np.quantile(scores, np.linspace(0, 1, candidates)))
    grid = np.concatenate([grid, [np.nextafter(scores.max(), np.inf)]])
    tp, te = np.meshgrid(grid, grid, indexing="ij")
    keep = tp <= te
    tp, te = tp[keep], te[keep]
    conf = _confusions(grades, scores, tp, te)
    values = _criterion(conf, criterion)
    best = int(np.argmax(values))
    confusion = conf[best]
    quantiles = {}
    for k, name in enumerate(("irrelevant", "partial", "exact")):
        vals = scores[grades == k]
        if len(vals):
            quantiles[name] = {f"q{int(q * 100):02d}": float(np.quantile(vals, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
            quantiles[name]["n"] = len(vals)
    return {
        "partial": float(tp[best]),
        "exact": float(te[best]),
        "criterion": criterion,
        "value": float(values[best]),
        "accuracy": float(np.trace(confusion) / confusion.sum()),
        "confusion": confusion.astype(int).tolist(),
        "confusion_axes": "rows: true grade (irrelevant, partial, exact); columns: thresholded grade",
        "quantiles": quantiles,
        "n": len(scores),
        "score": "cosine",
    }


def write_boundaries(path: Path, boundaries: dict) -> Path:
    """Write ``boundaries.json`` through a temporary file, so a crash never leaves half of it."""
    from mr_opensearch.core.safe_write import write_text

    return write_text(path, json.dumps(boundaries, indent=2))


def _load_boundaries_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MrosError(f"{path} not found", "train with `mros train` (it writes RUN/boundaries.json)") from None
    except (ValueError, OSError) as exc:
        raise MrosError(f"{path}: not a boundaries file ({exc})", "regenerate it with `mros train`") from None


def read_boundaries(path: Path) -> dict:
    """Read and validate ``boundaries.json``: cosines in [-1, 1] with partial <= exact."""
    data = _load_boundaries_json(path)
    try:
        partial, exact = float(data["partial"]), float(data["exact"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MrosError(f"{path}: not a boundaries file ({exc})", "regenerate it with `mros train`") from None
    if not (-1.0 <= partial <= 1.0 and -1.0 <= exact <= 1.0):
        raise MrosError(f"{path}: boundaries must be cosines in [-1, 1], got partial={partial}, exact={exact}")
    if partial > exact:
        raise MrosError(f"{path}: boundaries out of order (partial {partial} > exact {exact})",
                        "the partial boundary must not exceed the exact one; regenerate the file")
    return data


def model_boundaries(path: Path, model: str) -> tuple[float, float]:
    """The (partial, exact) cosine boundaries of ``model`` in a run's ``boundaries.json``: its entry in
    ``"compared"`` (the top-level boundaries are the run's final model's, whose name the file does not
    hold, so they are never guessed to be ``model``'s)."""
    data = _load_boundaries_json(path)
    # only the model's own entry is needed: a file of compared models without a shipped pair
    # (benchmarks/quality_variants.py writes one) is enough
    compared = data.get("compared") if isinstance(data, dict) else None
    if not isinstance(compared, dict) or not compared:
        raise MrosError(f"{path} names no models (no 'compared' section), so the boundaries of {model!r} are unknown",
                        "pass the boundaries.json of a run trained by `mros train`, which lists each model's boundaries")
    if model not in compared:
        raise MrosError(f"{path} holds no boundaries of model {model!r}; it has: {', '.join(map(str, compared))}",
                        "check the model name, or pass the boundaries.json of the run that trained it")
    entry = compared[model]
    try:
        partial, exact = float(entry["partial"]), float(entry["exact"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MrosError(f"{path}: the boundaries of {model!r} are not numeric 'partial' and 'exact' cosines ({exc})",
                        "regenerate it with `mros train`") from None
    if not (-1.0 <= partial <= exact <= 1.0):
        raise MrosError(f"{path}: the boundaries of {model!r} must be ordered cosines in [-1, 1], "
                        f"got partial={partial}, exact={exact}", "regenerate it with `mros train`")
    return partial, exact
