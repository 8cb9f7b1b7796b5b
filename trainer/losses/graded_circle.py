r"""Multi-class (graded) circle loss for Stage 2.

Circle loss (Sun et al., CVPR 2020) re-weights each similarity by its distance from its optimum, so
pairs far from where they should be get larger gradients, and it places a margin between positive
and negative similarities. For two classes with margin :math:`m` it is

.. math::

    \mathcal{L} = \log\Big[1 + \sum_{n} e^{\gamma \alpha_n (s_n - \Delta_n)}
                             \sum_{p} e^{-\gamma \alpha_p (s_p - \Delta_p)}\Big],
    \quad \alpha_p = [O_p - s_p]_+, \ \alpha_n = [s_n - O_n]_+

with :math:`\Delta_p = 1 - m, \Delta_n = m, O_p = 1 + m, O_n = -m`, i.e. centred at
:math:`c = 0.5`: :math:`\Delta = c \pm m` and :math:`O = c \pm 3m`.

Three ordered grades (irrelevant 0 < partial 1 < exact 2) have two boundaries. Boundary
:math:`b \in \{1, 2\}` separates grades :math:`\ge b` ("positives") from grades :math:`< b`
("negatives") with its own centre :math:`c_b` and margin :math:`m_b`:
:math:`\Delta^b_{p,n} = c_b \pm m_b`, :math:`O^b_{p,n} = c_b \pm 3 m_b`. For each query :math:`q`

.. math::

    \mathcal{L}_q = \sum_{b \in \{1,2\}} w_b \log\Big[1 +
        \sum_{n:\, g_{qn} < b} e^{\gamma \alpha^b_n (s_{qn} - \Delta^b_n)}
        \sum_{p:\, g_{qp} \ge b} e^{-\gamma \alpha^b_p (s_{qp} - \Delta^b_p)}\Big]

averaged over queries that have both sides of a boundary. Products of other queries in the batch
count as irrelevant. The result pulls exact products above :math:`c_2 + m_2`, partial products into
the band between the boundaries, and irrelevant products below :math:`c_1 - m_1`: the score gaps
that make cosine thresholds (learned boundaries) meaningful. Centres can be set from Stage 1's
learned boundaries; ``gamma`` is the scale.

Inputs are the same as :mod:`trainer.losses.graded_supcon`: ``grades [Q, P]`` with 0/1/2 (-1 =
not judged for the query, treated as irrelevant).

References:
    * Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity Optimization", CVPR 2020, arXiv:2002.10857.
    * "Mine and Refine: Optimizing Graded Relevance in E-commerce Search Retrieval", arXiv:2602.17654.

Example::

    >>> import torch
    >>> from trainer.losses.graded_circle import graded_circle_loss
    >>> q = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    >>> p = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> loss = graded_circle_loss(q, p, torch.tensor([[2, 1, 0, -1], [-1, -1, 2, 0]]))
    >>> bool(loss >= 0)
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.losses.graded_batch import encode_graded_batch


def graded_circle_loss(
    query_emb: Tensor,
    product_emb: Tensor,
    grades: Tensor,
    centers: tuple[float, float] = (0.35, 0.6),
    margins: tuple[float, float] = (0.1, 0.1),
    gamma: float = 32.0,
    boundary_weights: tuple[float, float] = (1.0, 1.0),
) -> Tensor:
    """The loss of the module docstring; ``centers``/``margins``/``boundary_weights`` are given as
    (partial/irrelevant boundary, exact/partial boundary)."""
    if grades.shape != (query_emb.shape[0], product_emb.shape[0]):
        raise ValueError(f"grades must be [Q, P] = {(query_emb.shape[0], product_emb.shape[0])}, got {tuple(grades.shape)}")
    if not centers[0] < centers[1]:
        raise ValueError(f"centers must increase with the grade, got {centers}")
    sims = F.normalize(query_emb, dim=-1) @ F.normalize(product_emb, dim=-1).T  # [Q, P]
    g = grades.clamp(min=0).to(sims.device)
    total = sims.sum() * 0.0
    count = 0
    for boundary, (center, margin, weight) in enumerate(zip(centers, margins, boundary_weights, strict=True), start=1):
        pos, neg = g >= boundary, g < boundary
        active = pos.any(1) & neg.any(1)
        if not active.any():
            continue
        delta_p, delta_n = center + margin, center - margin
        opt_p, opt_n = center + 3 * margin, center - 3 * margin
        alpha_p = (opt_p - sims).clamp(min=0).detach()
        alpha_n = (sims - opt_n).clamp(min=0).detach()
        logit_p = (-gamma * alpha_p * (sims - delta_p)).masked_fill(~pos, float("-inf"))
        logit_n = (gamma * alpha_n * (sims - delta_n)).masked_fill(~neg, float("-inf"))
        per_query = F.softplus(torch.logsumexp(logit_n, dim=1) + torch.logsumexp(logit_p, dim=1))
        total = total + weight * per_query[active].sum()
        count += int(active.sum())
    return total / max(count, 1)


class GradedCircleLoss(nn.Module):
    """sentence-transformers wrapper of :func:`graded_circle_loss`; dataset columns ``(query,
    product)`` with label ``[query_id, grade]`` per row, like :class:`GradedSupConLoss`."""

    def __init__(self, model: nn.Module, centers: tuple[float, float] = (0.35, 0.6),
                 margins: tuple[float, float] = (0.1, 0.1), gamma: float = 32.0,
                 boundary_weights: tuple[float, float] = (1.0, 1.0)) -> None:
        super().__init__()
        self.model = model
        self.centers, self.margins, self.gamma, self.boundary_weights = centers, margins, gamma, boundary_weights

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.from_embeddings(*encode_graded_batch(self.model, sentence_features, labels))

    def from_embeddings(self, query_emb: Tensor, product_emb: Tensor, grade_matrix: Tensor) -> Tensor:
        """The loss on an already encoded batch (lets :class:`~trainer.losses.mixed.MixedLoss` encode once)."""
        return graded_circle_loss(query_emb, product_emb, grade_matrix, self.centers, self.margins, self.gamma,
                                  self.boundary_weights)

    def get_config_dict(self) -> dict[str, Any]:
        return {"centers": self.centers, "margins": self.margins, "gamma": self.gamma,
                "boundary_weights": self.boundary_weights}
