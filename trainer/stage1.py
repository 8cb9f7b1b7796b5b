"""Stage 1: train the Siamese encoder with the graded supervised contrastive loss.

Training goes through the standard Hugging Face / sentence-transformers trainer, so checkpoints,
resuming (``resume=True`` picks the newest checkpoint under ``RUN/checkpoints``), a progress bar
(mros's own, :mod:`trainer.console`),
GPUs and multi-GPU runs under ``torchrun`` / ``accelerate launch`` work as they do there. Nothing
pins training to the CPU.
"""

from __future__ import annotations

import random
from pathlib import Path

from trainer.batching import QueryGroupedBatchSampler
from trainer.config import Stage1Config
from trainer.console import accelerator_available, show_step_progress
from trainer.data import Catalog, Judgments
from trainer.losses import GradedSupConLoss


def build_graded_dataset(judgments: Judgments, catalog: Catalog, max_products_per_query: int, seed: int,
                         products_per_group: int | None = None):
    """One row per (query, product): columns ``query``, ``product``, ``label = [query_id, grade]``,
    rows of a query contiguous; at most ``max_products_per_query`` products per query, chosen at
    random (seeded) but keeping at least one product of every grade the query has.

    ``products_per_group``: split a query's products into groups of at most this many, dealt out
    by grade so each group gets a spread of grades; each group is its own member of a batch (the
    label becomes ``[query_id, grade, group_id]``), so the query is trained on once per group per
    epoch. Groups of one query that land in the same batch are merged back by their query id."""
    from datasets import Dataset

    rng = random.Random(seed)
    rows_q: list[str] = []
    rows_p: list[str] = []
    labels: list[list[int]] = []
    group_id = 0
    for qid, (query, group) in enumerate(judgments.frame.groupby("query", sort=True)):
        items = list(zip(group["product_id"], group["grade"], strict=True))
        rng.shuffle(items)
        if len(items) > max_products_per_query:
            keep, seen = [], set()
            for item in items:  # one of each grade first
                if item[1] not in seen:
                    keep.append(item)
                    seen.add(item[1])
            keep += [i for i in items if i not in keep][: max_products_per_query - len(keep)]
            items = keep
        if products_per_group is None:
            groups = [items]
        else:
            n_groups = -(-len(items) // products_per_group)
            by_grade = sorted(items, key=lambda item: -item[1])
            groups = [by_grade[g::n_groups] for g in range(n_groups)]
        for members in groups:
            for pid, grade in members:
                rows_q.append(query)
                rows_p.append(catalog.text(pid))
                labels.append([qid, int(grade)] if products_per_group is None else [qid, int(grade), group_id])
            group_id += 1
    return Dataset.from_dict({"query": rows_q, "product": rows_p, "label": labels})


def latest_checkpoint(checkpoint_dir: Path) -> str | None:
    if not checkpoint_dir.exists():
        return None
    found = sorted(checkpoint_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(found[-1]) if found else None


def train_stage1(model, judgments: Judgments, catalog: Catalog, config: Stage1Config, run_dir: Path,
                 progress: bool = True, resume: bool = True):
    """Train ``model`` in place on ``judgments``; checkpoints under ``run_dir/checkpoints/stage1``."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    dataset = build_graded_dataset(judgments, catalog, config.max_products_per_query, config.seed,
                                   config.products_per_group)
    checkpoint_dir = run_dir / "checkpoints" / "stage1"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.queries_per_batch,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        batch_sampler=QueryGroupedBatchSampler,
        disable_tqdm=True,  # mros's own bar instead (trainer.console)
        dataloader_pin_memory=accelerator_available(),
        report_to="none",
        dataloader_drop_last=False,
    )
    loss = GradedSupConLoss(model, temperature=config.temperature, partial_weight=config.partial_weight,
                            partial_negative_weight=config.partial_negative_weight, symmetric=config.symmetric,
                            irrelevant_negative_weight=config.irrelevant_negative_weight)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    show_step_progress(trainer, "stage 1", progress)
    checkpoint = latest_checkpoint(checkpoint_dir) if resume else None
    result = trainer.train(resume_from_checkpoint=checkpoint)
    history = [h for h in trainer.state.log_history if "loss" in h]
    return {
        "train_rows": len(dataset),
        "train_queries": judgments.frame["query"].nunique(),
        "steps": int(trainer.state.global_step),
        "train_loss": float(result.training_loss),
        "resumed_from": checkpoint,
        "loss_history": history,
    }
