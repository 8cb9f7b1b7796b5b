from __future__ import annotations

import numpy as np
import pytest

from mr_opensearch.core.errors import MrosError
from trainer.boundaries import grade_by_thresholds, learn_boundaries, read_boundaries, write_boundaries


def test_separable_grades_give_perfect_thresholds():
    scores = [0.1, 0.2, 0.45, 0.5, 0.8, 0.9]
    grades = [0, 0, 1, 1, 2, 2]
    b = learn_boundaries(scores, grades)
    assert 0.2 < b["partial"] <= 0.45 and 0.5 < b["exact"] <= 0.8
    assert b["accuracy"] == 1.0 and b["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert list(grade_by_thresholds(np.array(scores), b["partial"], b["exact"])) == grades


def test_hand_computed_best_accuracy_with_overlap():
    # one irrelevant pair scores above a partial one: the best is 5 of 6 right
    scores = [0.1, 0.6, 0.5, 0.55, 0.9, 0.95]
    grades = [0, 0, 1, 1, 2, 2]
    b = learn_boundaries(scores, grades)
    assert b["accuracy"] == pytest.approx(5 / 6)
    assert b["quantiles"]["exact"]["n"] == 2


def test_balanced_accuracy_favours_the_minority_grade():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.2, 0.1, 900), rng.normal(0.5, 0.1, 50), rng.normal(0.8, 0.1, 50)])
    grades = np.array([0] * 900 + [1] * 50 + [2] * 50)
    acc = learn_boundaries(scores, grades, "accuracy")
    bal = learn_boundaries(scores, grades, "balanced_accuracy")
    recall_partial = lambda b: b["confusion"][1][1] / 50  # noqa: E731
    assert recall_partial(bal) >= recall_partial(acc)
    assert acc["accuracy"] >= bal["accuracy"]


def test_roundtrip_and_validation(tmp_path):
    b = learn_boundaries([0.1, 0.5, 0.9], [0, 1, 2])
    path = write_boundaries(tmp_path / "boundaries.json", b)
    assert read_boundaries(path)["exact"] == b["exact"]
    (tmp_path / "bad.json").write_text('{"partial": 0.9, "exact": 0.2}')
    with pytest.raises(MrosError, match="out of order"):
        read_boundaries(tmp_path / "bad.json")
    (tmp_path / "range.json").write_text('{"partial": 0.2, "exact": 1.7}')
    with pytest.raises(MrosError, match=r"in \[-1, 1\]"):
        read_boundaries(tmp_path / "range.json")
    with pytest.raises(MrosError, match="too few"):
        learn_boundaries([0.1, 0.2], [0, 0])


def test_the_labeler_baseline_uses_the_boundary_search():
    """One threshold search: the labeler's cosine baseline fits its thresholds with learn_boundaries."""
    from trainer.labeler import baseline

    rng = np.random.default_rng(3)
    grades = rng.integers(0, 3, 300)
    cosines = 0.3 * grades + rng.normal(0, 0.12, 300)
    learned = learn_boundaries(cosines, grades, "accuracy", candidates=101)
    assert baseline.fit_thresholds(cosines, grades) == (learned["partial"], learned["exact"])
    assert baseline.grade_by_thresholds is grade_by_thresholds
    predicted = grade_by_thresholds(cosines, *baseline.fit_thresholds(cosines, grades))
    assert (predicted == grades).mean() == learned["accuracy"]
