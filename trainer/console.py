"""mros's own progress displays on the console, one per step, apart from the libraries' output.

While a training command runs, the CLI points ``sys.stderr`` at the run's log file
(``mr_opensearch.cli._library_log``); mros's own bars draw on the real stderr
(:func:`mr_opensearch.core.console.console_stream`). The Hugging Face trainers run with ``disable_tqdm=True`` (their bar and their printed
log dicts are library output) and show :class:`StepProgress`, one bar per training step, instead.
"""

from __future__ import annotations

import sys

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from mr_opensearch.core.console import console_stream


def console_bar(**kwargs):
    """A tqdm bar of mros's own, drawn on :func:`console_stream`."""
    from tqdm.auto import tqdm

    return tqdm(file=console_stream(), **kwargs)


def accelerator_available() -> bool:
    """Whether torch sees a GPU (CUDA/ROCm) or Apple's MPS; pinned data-loader memory only helps then
    (and torch warns about it on every training otherwise)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


class StepProgress(TrainerCallback):
    """One console bar for a Hugging Face training (``desc``, steps, running loss); the trainer's log
    dicts go to ``sys.stderr`` (the run's log file under the CLI)."""

    def __init__(self, desc: str, enabled: bool = True) -> None:
        self.desc, self.enabled, self.bar = desc, enabled, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = console_bar(total=state.max_steps, desc=self.desc, unit="step", disable=not self.enabled,
                               initial=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            print(f"{self.desc}: step {state.global_step}: {logs}", file=sys.stderr)
            if self.bar is not None and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def show_step_progress(trainer, desc: str, enabled: bool) -> None:
    """Replace a trainer's own printing of log dicts (it prints them when its tqdm bar is off) with
    :class:`StepProgress`."""
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(StepProgress(desc, enabled))
