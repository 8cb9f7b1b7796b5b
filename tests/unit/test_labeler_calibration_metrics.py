"""Temperature scaling, ECE and the classification metrics, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.labeler.calibration import expected_calibration_error, fit_temperature, nll, softmax
from trainer.labeler.metrics import classification_metrics, plot_confusion_matrix


def test_metrics_by_hand(tmp_path):
    m = classification_metrics([0, 1, 2, 2], [0, 2, 2, 0])
    assert m["accuracy"] == 0.5
    assert m["within1_accuracy"] == 0.75  # only the exact called irrelevant is off by 2
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [1, 0, 1]]
    # irrelevant: P 1/2, R 1 -> F1 2/3; partial: never predicted -> 0; exact: P 1/2, R 1/2 -> 1/2
    assert m["per_class"]["irrelevant"]["precision"] == 0.5 and m["per_class"]["irrelevant"]["recall"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 0.5) / 3)
    png = plot_confusion_matrix(m["confusion_matrix"], tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ece_by_hand():
    probs = np.tile([0.8, 0.1, 0.1], (10, 1))
    labels = np.array([0] * 6 + [1] * 4)  # confidence 0.8, accuracy 0.6
    assert expected_calibration_error(probs, labels) == pytest.approx(0.2)


def test_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(20000, 3))
    true_t = 2.0
    p = softmax(logits, true_t)
    labels = np.array([rng.choice(3, p=row) for row in p])
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.06)
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, t), labels)
    assert after < before / 2
