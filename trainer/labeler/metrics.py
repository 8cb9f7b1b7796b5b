"""Classification metrics for graded labels, and the confusion-matrix plot.

- accuracy: share of pairs whose predicted grade equals the true grade;
- within-1 accuracy: share with ``|predicted - true| <= 1`` (only exact<->irrelevant confusions count
  as errors; always answering "partial" scores 1.0, so read it with accuracy and macro-F1);
- macro-F1: the unweighted mean over the three grades of ``2PR / (P + R)``;
- per-class precision and recall, and the 3x3 confusion matrix (rows: true grade, columns: predicted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.grades import Grade

GRADES = [int(g) for g in Grade]


def classification_metrics(y_true, y_pred) -> dict:
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n = len(y_true)
    cm = np.zeros((3, 3), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class = {}
    f1s = []
    for g in GRADES:
        tp = cm[g, g]
        predicted = cm[:, g].sum()
        actual = cm[g, :].sum()
        precision = float(tp / predicted) if predicted else 0.0
        recall = float(tp / actual) if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[Grade(g).label] = {"precision": precision, "recall": recall, "f1": f1, "support": int(actual)}
    return {
        "n": int(n),
        "accuracy": float((y_true == y_pred).mean()) if n else 0.0,
        "within1_accuracy": float((np.abs(y_true - y_pred) <= 1).mean()) if n else 0.0,
        "macro_f1": float(np.mean(f1s)),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def plot_confusion_matrix(cm, path: Path | str, title: str = "Labeler confusion matrix") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    names = [Grade(g).label for g in GRADES]
    fig, ax = plt.subplots(figsize=(4.6, 4))
    row = cm.sum(axis=1, keepdims=True).clip(min=1)
    ax.imshow(cm / row, cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{cm[i, j]}\n{cm[i, j] / row[i, 0]:.0%}", ha="center", va="center",
                    color="white" if cm[i, j] / row[i, 0] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(3), names)
    ax.set_yticks(range(3), names)
    ax.set_xlabel("predicted grade")
    ax.set_ylabel("true grade")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
