"""The no-training reference: grading by two thresholds on the base encoder's cosine similarity.

``grade = 2 if cos(q, p) >= t_exact, 1 if cos >= t_partial, else 0``. The thresholds are chosen on a
fitting split (by default the validation split) by the run's boundary search
(:func:`trainer.boundaries.learn_boundaries`: exhaustive over a grid of cosine quantiles, maximising
3-class accuracy), then applied unchanged to the test split.
"""

from __future__ import annotations

import numpy as np

from trainer.boundaries import grade_by_thresholds, learn_boundaries
from trainer.labeler.metrics import classification_metrics


def fit_thresholds(cosines: np.ndarray, labels: np.ndarray, grid: int = 101) -> tuple[float, float]:
    """``(t_partial, t_exact)`` maximising accuracy on ``(cosines, labels)``, ``grid`` candidates each."""
    learned = learn_boundaries(cosines, labels, "accuracy", candidates=grid)
    return learned["partial"], learned["exact"]


def pair_cosines(encoder, pairs: list[tuple[str, str]], batch_size: int = 128, progress: bool = False) -> np.ndarray:
    queries = encoder.encode([q for q, _ in pairs], batch_size=batch_size, show_progress_bar=progress,
                             normalize_embeddings=True)
    products = encoder.encode([p for _, p in pairs], batch_size=batch_size, show_progress_bar=progress,
                              normalize_embeddings=True)
    return (queries * products).sum(axis=1)


def cosine_threshold_baseline(encoder, fit_pairs, fit_labels, test_pairs, test_labels, progress: bool = False) -> dict:
    """Fit thresholds on ``fit_*``, report :func:`classification_metrics` on ``test_*``."""
    t_partial, t_exact = fit_thresholds(pair_cosines(encoder, fit_pairs, progress=progress), np.asarray(fit_labels))
    predicted = grade_by_thresholds(pair_cosines(encoder, test_pairs, progress=progress), t_partial, t_exact)
    return {"t_partial": t_partial, "t_exact": t_exact, **classification_metrics(test_labels, predicted)}
