"""Training losses, one per module (formula, inputs and references in each docstring)."""

from trainer.losses.graded_supcon import GradedSupConLoss, graded_supcon_loss

__all__ = ["GradedSupConLoss", "graded_supcon_loss"]
