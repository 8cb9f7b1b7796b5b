"""Fine-tuning a labeler on graded judgments, with a query-level held-out evaluation.

Steps: load and validate catalog + judgments (:mod:`trainer.data`), split by query
(:mod:`trainer.splits`: train / validation / test never share a query), fine-tune the backbone as a
3-class classifier with ``CE + ordinal_weight * (E[grade] - y)^2`` (see :class:`LabelerConfig`), fit
the softmax temperature on the validation split (:mod:`trainer.labeler.calibration`), stack pair
features on top (trees fitted on the training split, a combiner on the validation split:
:mod:`trainer.labeler.stacking`; on by default), and report on the test split. Writes into ``out``::

    labeler.json, model/          the labeler (see :mod:`trainer.labeler.model`)
    features.json, stack.skops,   with stacking (the default)
    neighbours.npz
    metrics.json                  test metrics at the top level (accuracy, within1_accuracy, macro_f1,
                                  per_class, confusion_matrix) + the cross-encoder's own test metrics
                                  when stacked, validation metrics, calibration (temperature, ECE
                                  before/after), training time, data sizes
    confusion_matrix.png          the test confusion matrix
    config.yaml                   the resolved configuration
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.safe_write import write_text
from trainer.config import DEFAULT_BASE_MODEL
from trainer.data import Catalog, Judgments, load_catalog, load_judgments
from trainer.labeler.backbones import is_causal, load_backbone, quiet_transformers
from trainer.labeler.calibration import expected_calibration_error, fit_temperature, softmax
from trainer.labeler.config import LabelerConfig
from trainer.labeler.features import FEATURE_NAMES, PairFeatures
from trainer.labeler.metrics import classification_metrics, plot_confusion_matrix
from trainer.labeler.model import Labeler
from trainer.labeler.stacking import StackingHead
from trainer.splits import split_judgments


def load_labeled_data(config: LabelerConfig) -> tuple[Catalog, dict[str, Judgments]]:
    d = config.data
    catalog = load_catalog(d.catalog_path(), d.catalog_columns, d.on_error)
    judgments = load_judgments(d.judgments_path(), catalog, d.judgment_columns, d.grade_mapping, d.on_error)
    splits = split_judgments(judgments, d.split)
    rng = np.random.default_rng(config.seed)
    for name, limit in (("train", d.max_train_pairs), ("validation", d.max_eval_pairs), ("test", d.max_eval_pairs)):
        frame = splits[name].frame
        if limit is not None and len(frame) > limit:
            keep = np.sort(rng.choice(len(frame), size=limit, replace=False))
            splits[name] = Judgments(frame.iloc[keep].reset_index(drop=True))
    if len(splits["train"]) == 0:
        raise MrosError("no training pairs after the query split", "use more queries or lower data.split fractions")
    return catalog, splits


def pairs_of(judgments: Judgments, catalog: Catalog) -> tuple[list[tuple[str, str]], np.ndarray]:
    frame = judgments.frame
    pairs = [(q, catalog.text(p)) for q, p in zip(frame["query"], frame["product_id"], strict=True)]
    return pairs, frame["grade"].to_numpy(dtype=np.int64)


def ordinal_loss(logits, labels, ordinal_weight: float, label_smoothing: float = 0.0):
    """``CE(logits, y) + w * mean((sum_k k p_k - y)^2)``."""
    import torch
    import torch.nn.functional as F

    ce = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if ordinal_weight == 0:
        return ce
    probs = logits.float().softmax(dim=-1)
    expected = (probs * torch.arange(probs.shape[-1], device=probs.device, dtype=probs.dtype)).sum(-1)
    return ce + ordinal_weight * ((expected - labels.float()) ** 2).mean()


def length_bucketed_batches(pairs: list[tuple[str, str]], batch_size: int, rng: np.random.Generator,
                            bucketing: bool = True, chunk_batches: int = 50) -> list[np.ndarray]:
    """One epoch of index batches. With ``bucketing``: shuffle, cut into chunks of ``chunk_batches``
    batches, sort each chunk by text length, cut it into batches and shuffle the batches, so a batch
    holds pairs of similar length (less padding) while the order stays random."""
    order = rng.permutation(len(pairs))
    if not bucketing:
        return [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    batches = []
    size = batch_size * chunk_batches
    for c in range(0, len(order), size):
        chunk = order[c:c + size]
        chunk = chunk[np.argsort([len(pairs[i][0]) + len(pairs[i][1]) for i in chunk], kind="stable")]
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def linear_warmup_decay(step: int, total: int, warmup_ratio: float) -> float:
    """LR multiplier: linear warm-up over ``warmup_ratio * total`` steps, then linear decay to 0."""
    warmup = max(1, int(warmup_ratio * total))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


@dataclass
class TrainingLoopResult:
    """What the training loop leaves for the metrics: steps taken and planned, losses, time."""

    steps: int
    planned_steps: int
    stopped_early: bool
    losses: list[float]
    seconds: float


@dataclass
class ValidationResult:
    """The validation split's logits and labels (None without a validation split) and the calibration."""

    pairs: list[tuple[str, str]]
    logits: np.ndarray | None
    labels: np.ndarray | None
    calibration: dict


def seed_everything(config: LabelerConfig) -> None:
    """Thread count and the seeds of ``random``, numpy and torch from the config."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)


def build_labeler(config: LabelerConfig, log: Callable[[str], None]) -> tuple[Labeler, str]:
    """Load the backbone as a 3-class classifier and wrap it in a :class:`Labeler` (temperature 1);
    the guideline and sequence length default by backbone kind (causal LM: full guideline, 192
    tokens; encoder: short guideline, 96 tokens). Returns the labeler and the backbone's source."""
    model, tokenizer, source = load_backbone(config.backbone)
    guideline = config.guideline or ("full" if is_causal(model.config) else "short")
    max_seq_length = config.max_seq_length or (192 if guideline == "full" else 96)
    labeler = Labeler(model, tokenizer, guideline, max_seq_length, 1.0,
                      {"backbone": config.backbone, "source": source})
    log(f"backbone {config.backbone} ({source}), guideline {guideline}, max_seq_length {max_seq_length}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    return labeler, source


def build_optimizer(model, config: LabelerConfig, plan: dict):
    """AdamW with weight decay on every parameter but biases and norms, and a linear warm-up/decay
    schedule over ``plan["total"]`` steps (read at each step, so the budget re-planning can shorten it)."""
    import torch

    no_decay = ("bias", "LayerNorm.weight", "layernorm", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_warmup_decay(s, plan["total"], config.warmup_ratio))
    return optimizer, scheduler


def training_step(labeler: Labeler, batch_pairs: list[tuple[str, str]], labels: np.ndarray, optimizer, scheduler,
                  config: LabelerConfig) -> float:
    """One optimisation step on one batch (ordinal loss, gradient clipping at 1.0); returns the loss."""
    import torch

    batch = labeler.encode([q for q, _ in batch_pairs], [t for _, t in batch_pairs])
    loss = ordinal_loss(labeler.model(**batch).logits, torch.as_tensor(labels), config.ordinal_weight,
                        config.label_smoothing)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(labeler.model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()
    return loss.item()


def steps_fitting_budget(step: int, elapsed: float, max_minutes: float) -> tuple[int, float]:
    """How many steps fit in ``max_minutes`` at the pace of the first ``step`` steps (at least one more
    than taken); returns it and the seconds per step."""
    per_step = elapsed / step
    return max(step + 1, int(60 * max_minutes / per_step)), per_step


def replan_for_budget(step: int, elapsed: float, max_minutes: float, plan: dict, bar, planned_steps: int,
                      log: Callable[[str], None]) -> int:
    """Shorten the schedule (``plan["total"]``, the bar's total) to the steps that fit in the time budget
    at the pace so far, when fewer than planned; returns the total."""
    fits, per_step = steps_fitting_budget(step, elapsed, max_minutes)
    if fits < plan["total"]:
        plan["total"] = fits
        bar.total = fits
        bar.refresh()
        log(f"{per_step:.2f} s/step: {fits} of {planned_steps} planned steps fit in {max_minutes} min")
    return plan["total"]


def run_training_loop(labeler: Labeler, train_pairs: list[tuple[str, str]], train_labels: np.ndarray,
                      config: LabelerConfig, progress: bool, log: Callable[[str], None]) -> TrainingLoopResult:
    """Train for ``epochs`` over length-bucketed batches, or ``max_steps`` when fewer (the step budget:
    the schedule spans exactly those steps). With ``max_minutes`` the schedule is re-planned
    after 10, 50 and 200 steps so the LR decays to 0 when the time runs out, and training stops at the
    budget.

    Why not the Hugging Face Trainer (Stage 1 uses it): this re-planning changes the number of steps
    and the LR schedule while training runs, and the batches are length-bucketed per epoch from one
    seeded generator; the Trainer fixes ``max_steps`` and its schedule when training starts, and
    reproducing the same batches and schedule through its sampler and callbacks would change the
    labeler's measured results."""
    from trainer.console import console_bar

    steps_per_epoch = math.ceil(len(train_pairs) / config.batch_size)
    planned_steps = total_steps = min(max(1, math.ceil(steps_per_epoch * config.epochs)),
                                      config.max_steps or math.inf)
    plan = {"total": total_steps}
    optimizer, scheduler = build_optimizer(labeler.model, config, plan)
    labeler.model.train()
    rng = np.random.default_rng(config.seed)
    start = time.time()
    step, stopped_early, losses = 0, False, []
    bar = console_bar(total=total_steps, desc="training labeler", disable=not progress, unit="step")
    while step < total_steps and not stopped_early:
        for idx in length_bucketed_batches(train_pairs, config.batch_size, rng, config.length_bucketing):
            losses.append(training_step(labeler, [train_pairs[i] for i in idx], train_labels[idx],
                                        optimizer, scheduler, config))
            step += 1
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if config.max_minutes is not None and step in (10, 50, 200):
                total_steps = replan_for_budget(step, time.time() - start, config.max_minutes, plan, bar,
                                                planned_steps, log)
            if step >= total_steps:
                break
            if config.max_minutes is not None and time.time() - start > 60 * config.max_minutes:
                stopped_early = True
                log(f"time budget of {config.max_minutes} min reached after {step}/{total_steps} steps")
                break
    bar.close()
    seconds = time.time() - start
    labeler.model.eval()
    return TrainingLoopResult(step, planned_steps, stopped_early, losses, seconds)


def training_metrics(config: LabelerConfig, source: str, guideline: str, sizes: dict, n_train_pairs: int,
                     loop: TrainingLoopResult) -> dict:
    """The metrics dict's training part (backbone, data sizes, steps, time, final loss)."""
    return {"backbone": config.backbone, "source": source, "guideline": guideline,
            "data": sizes, "train_steps": loop.steps, "planned_steps": loop.planned_steps,
            "train_pairs_seen": min(loop.steps * config.batch_size, int(n_train_pairs * config.epochs)),
            "stopped_by_time_budget": loop.stopped_early, "train_seconds": round(loop.seconds, 1),
            "final_train_loss": float(np.mean(loop.losses[-50:])) if loop.losses else None}


def calibrate_on_validation(labeler: Labeler, validation: Judgments, catalog: Catalog, config: LabelerConfig,
                            progress: bool, metrics: dict, log: Callable[[str], None]) -> ValidationResult:
    """Fit the labeler's softmax temperature on the validation split (sets ``labeler.temperature``) and
    put the validation metrics into ``metrics``; without a validation split the temperature stays 1."""
    if not len(validation):
        log("no validation split: temperature left at 1.0")
        return ValidationResult([], None, None, {"temperature": 1.0})
    val_pairs, val_labels = pairs_of(validation, catalog)
    val_logits = labeler.logits(val_pairs, config.eval_batch_size, progress, desc="validation")
    temperature = fit_temperature(val_logits, val_labels)
    labeler.temperature = temperature
    calib = {"temperature": temperature,
             "validation_ece_before": expected_calibration_error(softmax(val_logits), val_labels),
             "validation_ece_after": expected_calibration_error(softmax(val_logits, temperature), val_labels)}
    metrics["validation"] = classification_metrics(val_labels, val_logits.argmax(1))
    return ValidationResult(val_pairs, val_logits, val_labels, calib)


def fit_stacking(labeler: Labeler, catalog: Catalog, train_pairs: list[tuple[str, str]], train_labels: np.ndarray,
                 validation: ValidationResult, config: LabelerConfig, metrics: dict,
                 log: Callable[[str], None]) -> None:
    """Stack pair features on the cross-encoder: trees fitted on the training pairs, the combiner on the
    validation logits; sets ``labeler.features`` / ``labeler.stack`` and ``metrics["stacking"]``.
    Skipped (with a line in the log) without a validation split holding at least two grades."""
    if validation.logits is None or len(np.unique(validation.labels)) < 2:
        log("stacking skipped: it fits its combiner on a validation split with at least two grades")
        return
    stack_start = time.time()
    encoder = config.features_encoder or DEFAULT_BASE_MODEL
    log(f"stacking: pair features ({encoder} cosine, BM25, overlaps, product priors, graded-pair "
        f"neighbours) of {len(train_pairs)} training pairs")
    features = PairFeatures.fit(catalog.texts, train_pairs, train_labels, encoder, config.eval_batch_size)
    trees = StackingHead.fit_trees(features.transform(train_pairs, train_labels, config.eval_batch_size),
                                   train_labels, config.seed)
    labeler.features = features
    labeler.stack = StackingHead.fit(trees, validation.logits,
                                     features.transform(validation.pairs, batch_size=config.eval_batch_size),
                                     validation.labels)
    metrics["stacking"] = {"seconds": round(time.time() - stack_start, 1), "feature_encoder": encoder,
                           "tree_iterations": int(trees.n_iter_), "features": list(FEATURE_NAMES)}
    log(f"stacking: trees ({trees.n_iter_} iterations) and combiner fitted in "
        f"{metrics['stacking']['seconds']:.0f} s")


def evaluate_held_out(labeler: Labeler, test: Judgments, catalog: Catalog, train_labels: np.ndarray,
                      config: LabelerConfig, progress: bool, metrics: dict, calib: dict, out: Path) -> None:
    """Evaluate on the held-out pairs: the labeler's probabilities (the stacking combiner's when stacked,
    else the calibrated softmax), the cross-encoder alone when stacked, ECE before/after, the majority
    baseline and the confusion-matrix plot; updates ``metrics`` and ``calib``."""
    test_pairs, test_labels = pairs_of(test, catalog)
    eval_start = time.time()
    test_logits = labeler.logits(test_pairs, config.eval_batch_size, progress, desc="test")
    if labeler.stack is not None:  # the probabilities the labeler gives: the combiner's
        metrics["cross_encoder"] = classification_metrics(test_labels, test_logits.argmax(1))
        test_probs = labeler.stack.predict_proba(
            test_logits, labeler.features.transform(test_pairs, batch_size=config.eval_batch_size))
    else:
        test_probs = softmax(test_logits, labeler.temperature)
    calib["method"] = "stacking combiner" if labeler.stack is not None else "temperature"
    calib["test_ece_before"] = expected_calibration_error(softmax(test_logits), test_labels)
    metrics["eval_pairs_per_second"] = round(len(test_pairs) / max(time.time() - eval_start, 1e-9), 1)
    metrics.update(classification_metrics(test_labels, test_probs.argmax(1)))
    calib["test_ece_after"] = expected_calibration_error(test_probs, test_labels)
    majority = int(np.bincount(train_labels, minlength=3).argmax())
    metrics["majority_baseline_accuracy"] = float((test_labels == majority).mean())
    plot_confusion_matrix(metrics["confusion_matrix"], out / "confusion_matrix.png",
                          f"Labeler on held-out queries (acc {metrics['accuracy']:.3f})")


def save_labeler(labeler: Labeler, config: LabelerConfig, metrics: dict, out: Path) -> None:
    """Write the labeler, ``config.yaml`` and ``metrics.json`` into ``out``."""
    labeler.save(out)
    write_text(out / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")


def train_labeler(config: LabelerConfig, out: Path | str, progress: bool = True,
                  log: Callable[[str], None] = print) -> dict:
    """Train, calibrate, evaluate and save a labeler in ``out``; returns the metrics dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(config)
    quiet_transformers(progress)
    catalog, splits = load_labeled_data(config)
    sizes = {name: {"pairs": len(j), "queries": len(j.queries)} for name, j in splits.items()}
    log("data: " + ", ".join(f"{k} {v['pairs']} pairs / {v['queries']} queries" for k, v in sizes.items()))
    train_pairs, train_labels = pairs_of(splits["train"], catalog)

    labeler, source = build_labeler(config, log)
    loop = run_training_loop(labeler, train_pairs, train_labels, config, progress, log)
    metrics = training_metrics(config, source, labeler.guideline, sizes, len(train_pairs), loop)
    validation = calibrate_on_validation(labeler, splits["validation"], catalog, config, progress, metrics, log)
    if config.stacking:
        fit_stacking(labeler, catalog, train_pairs, train_labels, validation, config, metrics, log)
    test = splits["test"] if len(splits["test"]) else splits["validation"]
    if len(test):
        evaluate_held_out(labeler, test, catalog, train_labels, config, progress, metrics, validation.calibration, out)
    metrics["evaluated_on"] = "test" if len(splits["test"]) else "validation"
    metrics["calibration"] = validation.calibration
    save_labeler(labeler, config, metrics, out)
    return metrics
