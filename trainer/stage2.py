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
from typing import Literal

import pandas as pd
from pydantic import Field, model_validator

from trainer.augment.synthetic import SyntheticQueryConfig
from trainer.data import Catalog, Judgments
from trainer.mining import MiningConfig
from trainer.strict import StrictModel


class CircleConfig(StrictModel):
    centers: Literal["auto", "medians"] | tuple[float, float] = Field(
        "auto", description="(partial/irrelevant, exact/partial) band centres. auto: Stage 1's learned "
        "thresholds; medians: half-way between adjacent grades' median Stage 1 validation scores (measured "
        "worse on the shared data, docs/benchmarks.md); or two numbers")
    margins: tuple[float, float] = (0.05, 0.05)
    gamma: float = 32.0
    weight: float = Field(1.0, ge=0.0, description="weight of the circle loss (0: Stage 1 loss only, an ablation)")
    supcon_weight: float = Field(2.0, ge=0.0, description="weight of the Stage 1 loss mixed in (0: circle only); "
                                 "2.0 is the mix that improved every AUC on the shared data (docs/benchmarks.md)")

    @model_validator(mode="after")
    def _some_loss(self) -> CircleConfig:
        if self.weight == 0 and self.supcon_weight == 0:
            raise ValueError("weight and supcon_weight are both 0: Stage 2 would have no loss")
        return self


class SpellingConfig(StrictModel):
    enabled: bool = Field(False, description="add spelling-noised query copies (raises recall on the shared data, "
                          "costs grade-separation AUC on its clean test queries; for traffic with typos)")
    fraction: float = Field(0.3, ge=0.0, le=1.0)
    copies: int = Field(1, ge=1)
    edits: int = Field(1, ge=1)
    seed: int = 7


class Stage2Config(StrictModel):
    enabled: bool = Field(True, description="run Stage 2 after Stage 1 (false: Stage 1 only)")
    labeler: Path | None = Field(None, description="labeler directory from `mros label train`; without one, mining "
                                 "keeps only the judged pairs whose Stage 1 score contradicts their grade")
    mining: MiningConfig = Field(default_factory=MiningConfig)
    circle: CircleConfig = Field(default_factory=CircleConfig)
    spelling: SpellingConfig = Field(default_factory=SpellingConfig)
    synthetic: SyntheticQueryConfig = Field(default_factory=SyntheticQueryConfig)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(100, ge=-1, description="at most this many optimizer steps (-1: all epochs); on the shared data "
                           "an epoch is ~300 steps of ~7 s on 2 cores, and 100 steps carry most of the gain")
    queries_per_batch: int = Field(32, ge=2)
    max_products_per_query: int = Field(12, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 43
    save_steps: int = Field(200, ge=1)


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


def train_stage2(model, judgments: Judgments, catalog: Catalog, config: Stage2Config, centers: tuple[float, float],
                 run_dir: Path, progress: bool = True, resume: bool = True) -> dict:
    """Continue training ``model`` (Stage 1 weights) on ``judgments`` with the graded circle loss."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from trainer.batching import QueryGroupedBatchSampler
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
        disable_tqdm=not progress, report_to="none",
    )
    parts = {}
    if config.circle.weight > 0:
        circle = GradedCircleLoss(model, centers=centers, margins=config.circle.margins, gamma=config.circle.gamma)
        parts["circle"] = (circle, config.circle.weight)
    if config.circle.supcon_weight > 0:
        parts["supcon"] = (GradedSupConLoss(model), config.circle.supcon_weight)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=MixedLoss(parts))
    checkpoint = latest_checkpoint(checkpoint_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    return {"train_rows": len(dataset), "train_queries": int(judgments.frame["query"].nunique()),
            "steps": int(trainer.state.global_step), "train_loss": float(result.training_loss),
            "centers": list(centers), "resumed_from": checkpoint}
