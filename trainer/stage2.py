"""Stage 2: refine the Stage 1 encoder on original plus mined pairs with the graded circle loss.

Steps (each configurable in ``stage2``):

1. **mining** (:mod:`trainer.mining`): Stage 1 retrieves each training query's neighbours; unjudged
   ones are graded by the labeler (``stage2.labeler``: a directory written by ``mros label train``;
   without one, no new pairs are added), contradicting judgments are reported;
2. **synthetic queries** (:mod:`trainer.augment.synthetic`, off by default): a causal LM fine-tuned
   on (title -> exact query) writes queries for under-judged products, graded by the labeler;
3. **spelling augmentation** (:mod:`trainer.augment.spelling`): noised copies of queries;
4. **training**: the graded circle loss (:mod:`trainer.losses.graded_circle`) with band centres at
   Stage 1's learned thresholds (``centers: auto``), between adjacent grades' median Stage 1 scores
   (``medians``) or at given ones, optionally mixed with the Stage 1
   loss, continuing from the Stage 1 weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from trainer.config import SpellingConfig, Stage1Config, Stage2Config
from trainer.data import Catalog, Judgments


def combine_training_pairs(judgments: Judgments, mined: pd.DataFrame | None, spelling: SpellingConfig,
                           synthetic: pd.DataFrame | None = None) -> Judgments:
    """Original judgments + labelled mined pairs (contradictions are judged pairs already) + graded
    synthetic queries + noised copies of the queries."""
    from trainer.augment.spelling import SpellingNoise, augment_judgments

    frame = judgments.frame[["query", "product_id", "grade"]].copy()
    if mined is not None and not mined.empty:
        labelled = mined[mined["source"] == "labeler"][["query", "product_id", "grade"]]
        frame = pd.concat([frame, labelled], ignore_index=True).drop_duplicates(["query", "product_id"])
    if synthetic is not None and not synthetic.empty:
        frame = pd.concat([frame, synthetic[["query", "product_id", "grade"]]], ignore_index=True)
        frame = frame.drop_duplicates(["query", "product_id"])
    if spelling.enabled and spelling.fraction > 0:
        frame = augment_judgments(frame, spelling.fraction, spelling.copies, spelling.seed,
                                  SpellingNoise(edits=spelling.edits))[["query", "product_id", "grade"]]
    return Judgments(frame.reset_index(drop=True))


def step_budget(config: Stage2Config, n_queries: int) -> int:
    """Optimizer steps for Stage 2: ``epochs`` over the queries, capped at ``max_steps`` (-1: no cap).
    A small dataset stops after its epochs instead of looping to the cap."""
    per_epoch = -(-n_queries // config.queries_per_batch)
    epoch_steps = max(1, math.ceil(config.epochs * per_epoch))
    return epoch_steps if config.max_steps < 0 else min(config.max_steps, epoch_steps)


def supcon_arguments(config: Stage2Config, stage1: Stage1Config | None) -> dict:
    """Keyword arguments of the Stage 1 loss mixed into Stage 2: the loss's own defaults, or, with
    ``circle.supcon_settings: stage1``, the loss settings of the run's Stage 1."""
    if config.circle.supcon_settings == "loss_defaults":
        return {}
    if stage1 is None:
        raise ValueError("circle.supcon_settings is stage1 but no Stage 1 config was given")
    return {"temperature": stage1.temperature, "partial_weight": stage1.partial_weight,
            "partial_negative_weight": stage1.partial_negative_weight, "symmetric": stage1.symmetric,
            "irrelevant_negative_weight": stage1.irrelevant_negative_weight}


def train_stage2(model, judgments: Judgments, catalog: Catalog, config: Stage2Config, centers: tuple[float, float],
                 run_dir: Path, progress: bool = True, resume: bool = True, stage1: Stage1Config | None = None) -> dict:
    """Continue training ``model`` (Stage 1 weights) on ``judgments`` with the graded circle loss (and the
    Stage 1 loss mixed in, with :func:`supcon_arguments`)."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from trainer.batching import QueryGroupedBatchSampler
    from trainer.console import accelerator_available, show_step_progress
    from trainer.losses import GradedSupConLoss
    from trainer.losses.graded_circle import GradedCircleLoss
    from trainer.losses.mixed import MixedLoss
    from trainer.stage1 import build_graded_dataset, latest_checkpoint

    dataset = build_graded_dataset(judgments, catalog, config.max_products_per_query, config.seed)
    checkpoint_dir = run_dir / "checkpoints" / "stage2"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoint_dir), num_train_epochs=config.epochs,
        max_steps=step_budget(config, judgments.frame["query"].nunique()),
        per_device_train_batch_size=config.queries_per_batch, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio, seed=config.seed, data_seed=config.seed, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=2, logging_steps=20, batch_sampler=QueryGroupedBatchSampler,
        disable_tqdm=True, report_to="none", dataloader_pin_memory=accelerator_available(),
    )
    parts = {}
    if config.circle.weight > 0:
        circle = GradedCircleLoss(model, centers=centers, margins=config.circle.margins, gamma=config.circle.gamma)
        parts["circle"] = (circle, config.circle.weight)
    if config.circle.supcon_weight > 0:
        parts["supcon"] = (GradedSupConLoss(model, **supcon_arguments(config, stage1)), config.circle.supcon_weight)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=MixedLoss(parts))
    show_step_progress(trainer, "stage 2", progress)
    checkpoint = latest_checkpoint(checkpoint_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    return {"train_rows": len(dataset), "train_queries": int(judgments.frame["query"].nunique()),
            "steps": int(trainer.state.global_step), "train_loss": float(result.training_loss),
            "centers": list(centers), "resumed_from": checkpoint}
