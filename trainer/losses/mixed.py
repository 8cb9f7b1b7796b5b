r"""A weighted sum of graded losses over the same batch: :math:`\mathcal{L} = \sum_i w_i \mathcal{L}_i`.

Stage 2 uses it to mix the graded circle loss with a little of the Stage 1 graded SupCon loss, which
keeps the retrieval ordering learnt in Stage 1 while the circle loss sharpens the score bands.
The batch is encoded once and every part is computed on the same embeddings (each part has a
``from_embeddings(query_emb, product_emb, grades)`` method), so mixing costs no extra forward pass;
the parts share the ``(query, product)`` + ``[query_id, grade]`` input format
(:class:`GradedSupConLoss`, :class:`GradedCircleLoss`).

Example::

    >>> from trainer.losses.mixed import MixedLoss  # doctest: +SKIP
    >>> loss = MixedLoss({"circle": (GradedCircleLoss(model), 1.0), "supcon": (GradedSupConLoss(model), 0.2)})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from trainer.losses.graded_batch import encode_graded_batch


class MixedLoss(nn.Module):
    def __init__(self, parts: dict[str, tuple[nn.Module, float]]) -> None:
        super().__init__()
        if not parts:
            raise ValueError("MixedLoss needs at least one part")
        if all(w == 0 for _, w in parts.values()):
            raise ValueError("all MixedLoss weights are zero")
        self.parts = nn.ModuleDict({name: loss for name, (loss, _) in parts.items()})
        self.weights = {name: float(w) for name, (_, w) in parts.items()}
        self.model = next(iter(self.parts.values())).model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = encode_graded_batch(self.model, sentence_features, labels)
        total = None
        for name, loss in self.parts.items():
            weight = self.weights[name]
            if weight == 0:
                continue
            value = weight * loss.from_embeddings(*embeddings)
            total = value if total is None else total + value
        if total is None:
            raise ValueError("all MixedLoss weights are zero")
        return total

    def get_config_dict(self) -> dict[str, Any]:
        return {name: {"weight": self.weights[name], **getattr(loss, "get_config_dict", dict)()}
                for name, loss in self.parts.items()}
