"""``mros train``: data -> Stage 1 (-> Stage 2) -> export -> MNRL baseline (when ``eval.baselines``
includes ``mnrl``) -> evaluation (with baselines) -> boundaries, into one run directory.

Run directory contract (later steps and users rely on it)::

    RUN/config.yaml          resolved config
    RUN/environment.json     seeds and library versions
    RUN/splits.json          query counts per split
    RUN/model/               the trained sentence-transformers model
    RUN/metrics.json         metrics per split and model (+ Markdown table in RUN/metrics.md)
    RUN/onnx/fp32/, int8/    model.onnx + tokenizer.json each
    RUN/onnx/ml-commons.zip, ml-commons.json
    RUN/baselines/mnrl/      the MNRL baseline (model/ + training.json), when eval.baselines includes mnrl
    RUN/plots/               score histograms by grade
    RUN/README.md            model card
    RUN/cache/vectors/       catalog embeddings per model (reused across steps; safe to delete)

Each step writes its output and then a marker; a rerun with the same config skips finished steps
and a crashed Stage 1 resumes from its newest checkpoint. The evaluation trains nothing: the models it
scores (the MNRL baseline included) are trained by the steps before it.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from mr_opensearch.core.safe_write import make_dir, write_text
from trainer.boundary_step import learn_run_boundaries
from trainer.config import TrainConfig, key_data
from trainer.evaluation.run_step import evaluate_run
from trainer.model_card import write_model_card
from trainer.run_data import LoadedData, Log, load_data
from trainer.run_layout import final_model_name, mnrl_baseline_dir, stage1_model_dir
from trainer.steps import Steps, step_key


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


def prepare_run_dir(config: TrainConfig, run_dir: Path, resume: bool, log: Log) -> Steps:
    """Create the run directory and write ``config.yaml`` (noting when it differs from the previous run's)
    and ``environment.json``; returns the run's step markers."""
    make_dir(run_dir)
    config_yaml = config.dump_yaml()
    previous = run_dir / "config.yaml"
    if previous.exists() and previous.read_text() != config_yaml and resume:
        log(f"note: {previous} differs from this config; steps whose inputs changed are rerun")
    write_text(previous, config_yaml)
    write_text(run_dir / "environment.json", json.dumps(environment(config), indent=2))
    return Steps(run_dir)


def write_splits(data: LoadedData, run_dir: Path, log: Log) -> dict:
    """Log the data reports and write ``splits.json`` (queries, pairs and grade counts per split)."""
    for line in data.reports:
        log(line)
    split_counts = {name: {"queries": len(j.queries), "pairs": len(j), "grades": j.grade_counts()}
                    for name, j in data.splits.items()}
    write_text(run_dir / "splits.json", json.dumps(split_counts, indent=2))
    log("splits: " + ", ".join(f"{k} {v['queries']} queries / {v['pairs']} pairs" for k, v in split_counts.items()))
    return split_counts


def stage1_step(config: TrainConfig, run_dir: Path, data: LoadedData, steps: Steps, stage1_key: str,
                progress: bool, resume: bool, log: Log) -> dict:
    """Train Stage 1 into its model directory and write ``training.json``, or skip it when done for the
    same inputs (a Stage-1-only run's ``RUN/model`` is moved aside when Stage 2 is added). Returns the
    training info."""
    from trainer.encoder import load_encoder
    from trainer.stage1 import train_stage1

    stage1_dir = stage1_model_dir(run_dir, config)
    if config.stage2.enabled and not stage1_dir.exists() and steps.done("stage1", stage1_key) and (run_dir / "model").exists():
        (run_dir / "model").rename(stage1_dir)  # a Stage-1-only run being extended with Stage 2
    if steps.done("stage1", stage1_key) and stage1_dir.exists():
        log("stage 1: already trained, skipping (delete RUN/.steps/stage1 to retrain)")
        return json.loads((run_dir / "training.json").read_text()) if (run_dir / "training.json").exists() else {}
    log(f"stage 1: training from {config.model.base}")
    start = time.time()
    model = load_encoder(config.model.base, config.model.max_seq_length)
    training = train_stage1(model, data.splits["train"], data.catalog, config.stage1, run_dir, progress, resume)
    model.save(str(stage1_dir))
    training["train_seconds"] = time.time() - start
    write_text(run_dir / "training.json", json.dumps(training, indent=2))
    steps.mark("stage1", stage1_key)
    return training


def export_step(config: TrainConfig, run_dir: Path, steps: Steps, final_key: str, log: Log) -> dict | None:
    """Export ``RUN/model`` to ``RUN/onnx`` (fp32, int8, ML Commons package) unless done for the same model
    and export config; returns the export's parity figures (None with export off)."""
    if not config.export.enabled:
        return None
    export_key = step_key(final_key + json.dumps(config.export.model_dump(), sort_keys=True))
    if steps.done("export", export_key) and (run_dir / "onnx" / "ml-commons.zip").exists():
        log("export: already done, skipping")
        return json.loads((run_dir / "onnx" / "ml-commons.json").read_text()).get("parity")
    from trainer.export import export_for_ml_commons

    log(f"export: ONNX fp32 + int8, ML Commons package, client variant {config.export.client_variant}")
    ex = config.export
    titles = None
    if ex.client_variant == "openvino-int8" and config.data.catalog_path().is_file():
        from mr_opensearch.core.catalog import read_catalog

        columns = config.data.catalog_columns
        titles = list(read_catalog(config.data.catalog_path(), id_column=columns.id, title_column=columns.title).titles)
    exported = export_for_ml_commons(run_dir / "model", run_dir / "onnx", quantize=ex.quantize, package=ex.package,
                                     opset=ex.opset, max_length=config.model.max_seq_length,
                                     min_fp32_cosine=ex.min_fp32_cosine, min_int8_cosine=ex.min_int8_cosine,
                                     name=f"mros-{run_dir.name}", fuse=ex.fuse, client_variant=ex.client_variant,
                                     calibration_texts=titles)
    for note in exported.notes:
        log(f"export: note: {note}")
    steps.mark("export", export_key)
    return exported.parity


def mnrl_step(config: TrainConfig, run_dir: Path, data: LoadedData, steps: Steps, data_key: str,
              progress: bool, log: Log) -> None:
    """Train the MNRL baseline (the standard sentence-transformers recipe, :mod:`trainer.baselines`) into
    ``RUN/baselines/mnrl`` when ``eval.baselines`` includes ``mnrl``, before the evaluation that scores
    it; skipped when done for the same inputs (the data and the ``mnrl`` config, not the trained models)."""
    if "mnrl" not in config.eval.baselines:
        return
    out = mnrl_baseline_dir(run_dir)
    key = step_key(data_key + json.dumps(config.mnrl.model_dump(), sort_keys=True))
    if steps.done("mnrl", key) and (out / "model").exists():
        log("baseline: the MNRL recipe already trained, skipping (delete RUN/.steps/mnrl to retrain)")
        return
    from trainer.baselines import train_mnrl
    from trainer.encoder import load_encoder

    log("baseline: training the MNRL recipe on exact pairs")
    model = load_encoder(config.model.base, config.model.max_seq_length)
    info = train_mnrl(model, data.splits["train"], data.catalog, config.mnrl, out, progress)
    model.save(str(out / "model"))
    write_text(out / "training.json", json.dumps(info, indent=2))
    steps.mark("mnrl", key)


def boundary_models(config: TrainConfig, run_dir: Path) -> dict[str, str]:
    """The models whose grade boundaries are learned: the final one and the base (and Stage 1 with Stage 2),
    and the MNRL baseline when the run trained one (its boundary accuracy, for the comparison)."""
    if config.stage2.enabled:
        models = {"stage2": str(run_dir / "model"), "stage1": str(stage1_model_dir(run_dir, config)),
                  "base": config.model.base}
    else:
        models = {final_model_name(config): str(run_dir / "model"), "base": config.model.base}
    mnrl_model = mnrl_baseline_dir(run_dir) / "model"
    if "mnrl" in config.eval.baselines and mnrl_model.exists():
        models["mnrl"] = str(mnrl_model)
    return models


def train_run(config: TrainConfig, run_dir: Path, progress: bool = True, resume: bool = True,
              log: Log = print, data: LoadedData | None = None) -> dict:
    """Run every step of a training run (Stage 1, optionally Stage 2, export, the MNRL baseline when
    ``eval.baselines`` includes ``mnrl``, evaluation, boundaries); returns the metrics dict written to
    ``RUN/metrics.json``. ``data``: already loaded with :func:`load_data` for this config (callers that
    need the data afterwards load it once)."""
    # the data first: a bad row fails here, before the run directory is created or changed
    data = data or load_data(config)
    steps = prepare_run_dir(config, run_dir, resume, log)
    t0 = time.time()
    split_counts = write_splits(data, run_dir, log)
    data_key = step_key(json.dumps([key_data(("data",), config.data), config.model.model_dump()], sort_keys=True))
    stage1_key = step_key(data_key + json.dumps(key_data(("stage1",), config.stage1), sort_keys=True))
    training = stage1_step(config, run_dir, data, steps, stage1_key, progress, resume, log)
    final_key, stage2_info = stage1_key, None
    if config.stage2.enabled:
        from trainer.stage2_step import run_stage2

        final_key, stage2_info = run_stage2(run_dir, config, data, steps, stage1_key, progress, log)
    export_info = export_step(config, run_dir, steps, final_key, log)
    mnrl_step(config, run_dir, data, steps, data_key, progress, log)
    metrics = evaluate_run(run_dir, config, data, progress=progress, log=log, steps=steps, data_key=data_key)
    metrics["training"] = {k: v for k, v in training.items() if k != "loss_history"}
    if stage2_info is not None:
        metrics["stage2"] = stage2_info
    metrics["export"] = export_info
    if config.boundaries.enabled:
        metrics["boundaries"] = learn_run_boundaries(run_dir, config, data, boundary_models(config, run_dir),
                                                     progress, log)
    metrics["wall_seconds"] = time.time() - t0
    write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True))
    write_model_card(run_dir, config, metrics, split_counts)
    return metrics
