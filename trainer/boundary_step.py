"""The boundaries step of a run: per-grade cosine thresholds learned on the validation split for each
model of the run (the algorithm and ``boundaries.json``: :mod:`trainer.boundaries`); the run's final
model's go to ``RUN/boundaries.json``, with thresholding accuracy on the test split."""

from __future__ import annotations

from pathlib import Path

from trainer.config import TrainConfig
from trainer.run_data import LoadedData, Log


def boundaries_for(model_path: str, config: TrainConfig, data: LoadedData, progress: bool,
                   run_dir: Path | None = None) -> tuple[dict, dict]:
    """Learn boundaries on the validation split for one model; returns (boundaries, validation
    scores by grade). Adds ``test_accuracy`` of thresholding on the test split. With ``run_dir``,
    catalog vectors the run already cached for this model are reused."""
    from trainer.encoder import load_encoder
    from trainer.evaluation.scorers import dense_scorer
    from trainer.vector_cache import run_vector_cache

    scorer = dense_scorer(load_encoder(model_path, config.model.max_seq_length), data.catalog,
                          batch_size=config.eval.batch_size, progress=progress, cache_dir=run_vector_cache(run_dir))
    return scorer_boundaries(scorer, config, data)


def scorer_boundaries(scorer, config: TrainConfig, data: LoadedData) -> tuple[dict, dict]:
    """:func:`boundaries_for` with an already built scorer (whose catalog vectors it reuses when
    they are loaded or cached)."""
    from trainer.boundaries import grade_by_thresholds, learn_boundaries

    val, test = data.splits["validation"].frame, data.splits["test"].frame
    val_scores = scorer.score_pairs(list(val["query"]), list(val["product_id"]))
    learned = learn_boundaries(val_scores, val["grade"].to_numpy(), config.boundaries.criterion, config.boundaries.candidates)
    if len(test):
        test_scores = scorer.score_pairs(list(test["query"]), list(test["product_id"]))
        predicted = grade_by_thresholds(test_scores, learned["partial"], learned["exact"])
        learned["test_accuracy"] = float((predicted == test["grade"].to_numpy()).mean())
    by_grade = {g: [float(v) for v, gg in zip(val_scores, val["grade"], strict=True) if gg == k]
                for k, g in enumerate(("irrelevant", "partial", "exact"))}
    return learned, by_grade


def learn_run_boundaries(run_dir: Path, config: TrainConfig, data: LoadedData, models: dict[str, str],
                         progress: bool, log: Log) -> dict | None:
    """Learn grade boundaries on the validation split for each model in ``models`` (the first is the
    run's final model: ``RUN/boundaries.json``); report thresholding accuracy on the test split."""
    from trainer.boundaries import write_boundaries
    from trainer.evaluation.plots import plot_score_histograms

    if len(data.splits["validation"]) == 0:
        log("boundaries: no validation split, skipped")
        return None
    summary: dict = {}
    panels: dict = {}
    lines: dict = {}
    learned_all: dict = {}
    for name, source in models.items():
        learned, by_grade = boundaries_for(source, config, data, progress, run_dir)
        learned_all[name] = learned
        summary[name] = {k: learned.get(k) for k in ("partial", "exact", "criterion", "value", "accuracy", "test_accuracy")}
        panels[name] = by_grade
        lines[name] = {"partial": learned["partial"], "exact": learned["exact"]}
        log(f"boundaries {name}: partial {learned['partial']:.3f}, exact {learned['exact']:.3f}, "
            f"validation accuracy {learned['accuracy']:.3f}, test accuracy {learned.get('test_accuracy') or float('nan'):.3f}")
    final = learned_all[next(iter(models))]
    final["base_model_comparison"] = summary.get("base")
    final["compared"] = summary
    write_boundaries(run_dir / "boundaries.json", final)
    plot_score_histograms(panels, run_dir / "plots" / "boundaries_validation.png", boundaries=lines,
                          title="validation scores by grade with learned boundaries")
    return summary
