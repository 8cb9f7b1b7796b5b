"""``mros train``: data -> Stage 1 -> evaluation (with baselines) -> export, into one run directory.

Run directory contract (later steps and users rely on it)::

    RUN/config.yaml          resolved config
    RUN/environment.json     seeds and library versions
    RUN/splits.json          query counts per split
    RUN/model/               the trained sentence-transformers model
    RUN/metrics.json         metrics per split and model (+ Markdown table in RUN/metrics.md)
    RUN/onnx/fp32/, int8/    model.onnx + tokenizer.json each
    RUN/onnx/ml-commons.zip, ml-commons.json
    RUN/plots/               score histograms by grade
    RUN/README.md            model card
    RUN/cache/vectors/       catalog embeddings per model (reused across steps; safe to delete)

Each step writes its output and then a marker; a rerun with the same config skips finished steps
and a crashed Stage 1 resumes from its newest checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mr_opensearch.errors import MrosError
from trainer.config import TrainConfig, key_data
from trainer.data import Catalog, Judgments, load_catalog, load_judgments
from trainer.splits import split_judgments

Log = Callable[[str], None]


@dataclass
class LoadedData:
    catalog: Catalog
    judgments: Judgments
    splits: dict[str, Judgments]
    reports: list[str] = field(default_factory=list)


def load_data(config: TrainConfig) -> LoadedData:
    data = config.data
    catalog = load_catalog(data.catalog_path(), data.catalog_columns, data.on_error)
    judgments = load_judgments(data.judgments_path(), catalog, data.judgment_columns, data.grade_mapping, data.on_error)
    if data.max_queries or data.max_catalog_products:
        from trainer.subset import restrict_catalog, sample_queries

        report = judgments.report
        if data.max_queries:
            judgments = sample_queries(judgments, data.max_queries, data.split.seed)
            judgments.report = report
        if data.max_catalog_products:
            catalog = restrict_catalog(catalog, judgments, data.max_catalog_products, data.split.seed)
    splits = split_judgments(judgments, data.split)
    if data.max_train_queries:
        keep = sorted(splits["train"].queries)[: data.max_train_queries]
        splits["train"] = splits["train"].for_queries(keep)
    if len(splits["train"]) == 0:
        raise MrosError("the training split is empty", "lower the validation/test fractions or add judgments")
    reports = [r.summary() for r in (catalog.report, judgments.report) if r is not None]
    return LoadedData(catalog, judgments, splits, reports)


def environment(config: TrainConfig) -> dict:
    import importlib.metadata as md

    versions = {}
    for name in ("torch", "transformers", "sentence-transformers", "tokenizers", "onnx", "onnxruntime", "numpy", "mros"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "seeds": {"split": config.data.split.seed, "stage1": config.stage1.seed, "mnrl": config.mnrl.seed}}


def _config_hash(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Steps:
    """Markers that make steps skippable: ``RUN/.steps/<name>`` holds the hash of the inputs."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / ".steps"
        self.dir.mkdir(parents=True, exist_ok=True)

    def done(self, name: str, key: str) -> bool:
        marker = self.dir / name
        return marker.exists() and marker.read_text() == key

    def mark(self, name: str, key: str) -> None:
        (self.dir / name).write_text(key)


def stage1_model_dir(run_dir: Path, config: TrainConfig) -> Path:
    """Where the Stage 1 model lives: ``RUN/model`` when it is the final model, else ``RUN/stage1-model``."""
    return run_dir / ("stage1-model" if config.stage2.enabled else "model")


def final_model_name(config: TrainConfig) -> str:
    return "stage2" if config.stage2.enabled else "stage1"


def train_run(config: TrainConfig, run_dir: Path, progress: bool = True, resume: bool = True,
              log: Log = print, data: LoadedData | None = None) -> dict:
    """Run the whole job (Stage 1, optionally Stage 2, export, evaluation, boundaries); returns the
    metrics dict written to ``RUN/metrics.json``. ``data``: already loaded with :func:`load_data`
    for this config (callers that need the data afterwards load it once)."""
    from trainer.encoder import load_encoder
    from trainer.stage1 import train_stage1

    # the data first: a bad row fails here, before the run directory is created or changed
    data = data or load_data(config)
    from mr_opensearch.safe_write import make_dir

    make_dir(run_dir)
    config_yaml = config.dump_yaml()
    previous = run_dir / "config.yaml"
    if previous.exists() and previous.read_text() != config_yaml and resume:
        log(f"note: {previous} differs from this config; steps whose inputs changed are rerun")
    previous.write_text(config_yaml)
    (run_dir / "environment.json").write_text(json.dumps(environment(config), indent=2))
    steps = Steps(run_dir)

    t0 = time.time()
    for line in data.reports:
        log(line)
    split_counts = {name: {"queries": len(j.queries), "pairs": len(j), "grades": j.grade_counts()}
                    for name, j in data.splits.items()}
    (run_dir / "splits.json").write_text(json.dumps(split_counts, indent=2))
    log("splits: " + ", ".join(f"{k} {v['queries']} queries / {v['pairs']} pairs" for k, v in split_counts.items()))

    data_key = _config_hash(json.dumps([key_data(("data",), config.data), config.model.model_dump()], sort_keys=True))
    stage1_key = _config_hash(data_key + json.dumps(key_data(("stage1",), config.stage1), sort_keys=True))
    stage1_dir = stage1_model_dir(run_dir, config)
    if config.stage2.enabled and not stage1_dir.exists() and steps.done("stage1", stage1_key) and (run_dir / "model").exists():
        (run_dir / "model").rename(stage1_dir)  # a Stage-1-only run being extended with Stage 2
    training: dict = {}
    if steps.done("stage1", stage1_key) and stage1_dir.exists():
        log("stage 1: already trained, skipping (delete RUN/.steps/stage1 to retrain)")
        training = json.loads((run_dir / "training.json").read_text()) if (run_dir / "training.json").exists() else {}
    else:
        log(f"stage 1: training from {config.model.base}")
        start = time.time()
        model = load_encoder(config.model.base, config.model.max_seq_length)
        training = train_stage1(model, data.splits["train"], data.catalog, config.stage1, run_dir, progress, resume)
        model.save(str(stage1_dir))
        training["train_seconds"] = time.time() - start
        (run_dir / "training.json").write_text(json.dumps(training, indent=2))
        steps.mark("stage1", stage1_key)
    final_key = stage1_key
    stage2_info: dict | None = None
    if config.stage2.enabled:
        from trainer.stage2_run import run_stage2

        final_key, stage2_info = run_stage2(run_dir, config, data, steps, stage1_key, progress, log)
    model_dir = run_dir / "model"

    export_info: dict | None = None
    if config.export.enabled:
        export_key = _config_hash(final_key + json.dumps(config.export.model_dump(), sort_keys=True))
        if steps.done("export", export_key) and (run_dir / "onnx" / "ml-commons.zip").exists():
            log("export: already done, skipping")
            export_info = json.loads((run_dir / "onnx" / "ml-commons.json").read_text()).get("parity")
        else:
            from trainer.export import export_for_ml_commons

            log("export: ONNX fp32 + int8, ML Commons package")
            ex = config.export
            exported = export_for_ml_commons(model_dir, run_dir / "onnx", quantize=ex.quantize, package=ex.package,
                                             opset=ex.opset, max_length=config.model.max_seq_length,
                                             min_fp32_cosine=ex.min_fp32_cosine, min_int8_cosine=ex.min_int8_cosine,
                                             name=f"mros-{run_dir.name}", fuse=ex.fuse)
            export_info = exported.parity
            steps.mark("export", export_key)
    from trainer.evaluate import evaluate_run

    metrics = evaluate_run(run_dir, config, data, progress=progress, log=log, steps=steps, data_key=data_key)
    metrics["training"] = {k: v for k, v in training.items() if k != "loss_history"}
    if stage2_info is not None:
        metrics["stage2"] = stage2_info
    metrics["export"] = export_info
    if config.boundaries.enabled:
        models = {final_model_name(config): str(model_dir), "base": config.model.base}
        if config.stage2.enabled:
            models = {"stage2": str(model_dir), "stage1": str(stage1_dir), "base": config.model.base}
        metrics["boundaries"] = learn_run_boundaries(run_dir, config, data, models, progress, log)
    metrics["wall_seconds"] = time.time() - t0
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    from trainer.model_card import write_model_card

    write_model_card(run_dir, config, metrics, split_counts)
    return metrics


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
