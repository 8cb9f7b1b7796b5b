"""The standard sentence-transformers recipe, as a baseline: MultipleNegativesRankingLoss on
(query, exact product) pairs with in-batch negatives and no duplicate texts per batch."""

from __future__ import annotations

from pathlib import Path

from trainer.config import MnrlBaselineConfig
from trainer.data import Catalog, Judgments
from trainer.grades import Grade


def train_mnrl(model, judgments: Judgments, catalog: Catalog, config: MnrlBaselineConfig, out_dir: Path,
               progress: bool = True):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from trainer.console import accelerator_available, show_step_progress

    exact = judgments.frame[judgments.frame["grade"] == int(Grade.EXACT)]
    dataset = Dataset.from_dict({"anchor": list(exact["query"]),
                                 "positive": [catalog.text(p) for p in exact["product_id"]]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir / "checkpoints"), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio, seed=config.seed, save_strategy="no", logging_steps=50,
        batch_sampler=BatchSamplers.NO_DUPLICATES, disable_tqdm=True, report_to="none",
        dataloader_pin_memory=accelerator_available(),
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))
    show_step_progress(trainer, "MNRL baseline", progress)
    result = trainer.train()
    return {"train_pairs": len(dataset), "steps": int(trainer.state.global_step), "train_loss": float(result.training_loss)}
