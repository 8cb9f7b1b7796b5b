"""mros against the MNRL recipe: the run's final model beside the standard sentence-transformers
recipe (MultipleNegativesRankingLoss on exact pairs, :mod:`trainer.baselines`), metric by metric,
from a run's ``metrics.json``. Shown by the model card (``RUN/README.md``) and ``mros report``.

Compared on one split (``test`` when the run has it): the primary nDCG (``ndcg@10``), the three
grade-separation AUCs and, where the boundaries step learned thresholds for both models, the
3-class accuracy of thresholding the cosine at the learned boundaries (``boundary accuracy``).
The difference is ``mros - MNRL`` (higher is better for every metric here).

Plain dictionaries only: no model, no torch, so ``mros report`` can read any run directory.
"""

from __future__ import annotations

from dataclasses import dataclass

MNRL = "mnrl"
BOUNDARY_ACCURACY = "boundary_accuracy"
AUCS = ("auc_exact_vs_partial", "auc_partial_vs_irrelevant", "auc_exact_vs_irrelevant")
HOW_TO_GET_IT = ("the run has no MNRL baseline: add it to the run's config (`eval: {baselines: [bm25, base, mnrl]}`) "
                 "and rerun `mros train --out RUN` (finished steps are skipped; the MNRL recipe is trained once)")


@dataclass(frozen=True)
class ComparisonRow:
    metric: str
    mros: float | None
    mnrl: float | None

    @property
    def difference(self) -> float | None:
        return None if self.mros is None or self.mnrl is None else self.mros - self.mnrl


@dataclass(frozen=True)
class MnrlComparison:
    split: str
    model: str  # the run's model compared (stage1 or stage2)
    rows: list[ComparisonRow]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _final_model(models: dict) -> str | None:
    for name in ("stage2", "stage1"):
        if name in models:
            return name
    return None


def compare_with_mnrl(metrics: dict, split: str | None = None) -> MnrlComparison | None:
    """The comparison from a run's ``metrics.json``, or ``None`` when the split has no MNRL baseline
    (or no model of the run) to compare."""
    splits = metrics.get("splits") or {}
    if split is None:
        split = "test" if "test" in splits else next(iter(splits), None)
    models = splits.get(split) or {}
    final = _final_model(models)
    if MNRL not in models or final is None:
        return None
    ours, theirs = models[final], models[MNRL]
    primary = metrics.get("primary_metric") or "ndcg@10"
    rows = [ComparisonRow(key, _number(ours.get(key)), _number(theirs.get(key))) for key in (primary, *AUCS)]
    boundaries = metrics.get("boundaries") or {}
    if final in boundaries or MNRL in boundaries:
        rows.append(ComparisonRow(BOUNDARY_ACCURACY, _number((boundaries.get(final) or {}).get("test_accuracy")),
                                  _number((boundaries.get(MNRL) or {}).get("test_accuracy"))))
    return MnrlComparison(split, final, rows)


def _cell(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def comparison_markdown(comparison: MnrlComparison | None) -> str:
    """A markdown table ``metric | mros (MODEL) | MNRL recipe | difference``, or how to get one."""
    if comparison is None:
        return f"Not measured: {HOW_TO_GET_IT}."
    lines = [f"{comparison.split} split; difference = mros - MNRL.", "",
             f"| metric | mros ({comparison.model}) | MNRL recipe | difference |", "|---|---|---|---|"]
    for row in comparison.rows:
        lines.append(f"| {row.metric} | {_cell(row.mros)} | {_cell(row.mnrl)} | {_cell(row.difference, signed=True)} |")
    return "\n".join(lines)
