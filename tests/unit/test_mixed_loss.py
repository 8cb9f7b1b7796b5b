"""MixedLoss: one forward pass per batch, and the weighted sum of its parts on those embeddings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.losses.graded_circle import GradedCircleLoss
from trainer.losses.graded_supcon import GradedSupConLoss
from trainer.losses.mixed import MixedLoss


class CountingEncoder(nn.Module):
    """A stand-in sentence encoder: embeds token ids by a mean of a learnt table, counting its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(50, 8)
        self.calls = 0

    def forward(self, features: dict) -> dict:
        self.calls += 1
        return {"sentence_embedding": self.table(features["input_ids"]).mean(dim=1)}


def _batch():
    torch.manual_seed(0)
    queries = {"input_ids": torch.tensor([[1, 2], [1, 2], [3, 4], [3, 4], [3, 4]])}
    products = {"input_ids": torch.randint(5, 50, (5, 3))}
    labels = torch.tensor([[0, 2], [0, 1], [1, 2], [1, 0], [1, 1]])
    return [queries, products], labels


def test_the_batch_is_encoded_once_and_parts_are_summed_with_their_weights():
    model = CountingEncoder()
    features, labels = _batch()
    circle, supcon = GradedCircleLoss(model, centers=(0.2, 0.6)), GradedSupConLoss(model)
    mixed = MixedLoss({"circle": (circle, 1.0), "supcon": (supcon, 0.2)})
    total = mixed(features, labels)
    assert model.calls == 2  # queries once, products once, for both parts
    expected = circle(features, labels) + 0.2 * supcon(features, labels)
    assert torch.allclose(total, expected)
    total.backward()
    assert model.table.weight.grad is not None and model.table.weight.grad.abs().sum() > 0


def test_zero_weights_are_refused():
    model = CountingEncoder()
    with pytest.raises(ValueError, match="all MixedLoss weights are zero"):
        MixedLoss({"circle": (GradedCircleLoss(model), 0.0)})
    from trainer.config import CircleConfig

    with pytest.raises(ValueError, match="no loss"):
        CircleConfig(weight=0.0, supcon_weight=0.0)
