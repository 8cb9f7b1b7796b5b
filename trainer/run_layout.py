"""Where a training run keeps its models (the rest of the run directory: :mod:`trainer.run`)."""

from __future__ import annotations

from pathlib import Path

from trainer.config import TrainConfig


def stage1_model_dir(run_dir: Path, config: TrainConfig) -> Path:
    """Where the Stage 1 model lives: ``RUN/model`` when it is the final model, else ``RUN/stage1-model``."""
    return run_dir / ("stage1-model" if config.stage2.enabled else "model")


def mnrl_baseline_dir(run_dir: Path) -> Path:
    """Where the ``mnrl`` step trains the MNRL baseline: ``RUN/baselines/mnrl`` (the model in ``model/``,
    its training figures in ``training.json``)."""
    return run_dir / "baselines" / "mnrl"


def final_model_name(config: TrainConfig) -> str:
    return "stage2" if config.stage2.enabled else "stage1"
