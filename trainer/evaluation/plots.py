"""Score histograms by grade (PNG), one panel per model, optional boundary lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

GRADE_COLOURS = {"exact": "#1b9e77", "partial": "#d95f02", "irrelevant": "#7570b3"}


def plot_score_histograms(panels: dict[str, dict[str, list[float]]], path: Path,
                          boundaries: dict[str, dict[str, float]] | None = None, title: str = "") -> Path:
    """``panels``: model name -> grade -> scores. ``boundaries``: model name -> {"partial": x, "exact": y}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.9), squeeze=False)
    for ax, (name, by_grade) in zip(axes[0], panels.items(), strict=True):
        values = [v for vs in by_grade.values() for v in vs]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        bins = np.linspace(lo, hi, 41)
        for grade in ("irrelevant", "partial", "exact"):
            scores = by_grade.get(grade, [])
            if scores:
                ax.hist(scores, bins=bins, density=True, alpha=0.45, color=GRADE_COLOURS[grade], label=f"{grade} (n={len(scores)})")
        for key, value in ((boundaries or {}).get(name) or {}).items():
            if isinstance(value, (int, float)):
                ax.axvline(value, color="black", linestyle="--", linewidth=1)
                ax.text(value, ax.get_ylim()[1] * 0.95, f" {key}", fontsize=8, va="top")
        ax.set_title(name)
        ax.set_xlabel("score")
        # below the panel, so it never hides the boundary labels or the histograms
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
