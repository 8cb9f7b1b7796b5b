r"""Label-aware (graded) supervised contrastive loss for Stage 1.

For a batch with queries :math:`q` and products :math:`p` (every query brings all its judged
products; every product of another query in the batch counts as irrelevant for :math:`q`), let
:math:`s_{qp} = \cos(q, p) / \tau` and :math:`g_{qp} \in \{0, 1, 2\}` the grade (irrelevant,
partial, exact). Each product with a grade above irrelevant is a positive that must out-score every
product of *strictly lower* grade for the same query:

.. math::

    \ell_{qp} = -\log \frac{e^{s_{qp}}}{e^{s_{qp}} + \sum_{n:\, g_{qn} < g_{qp}} e^{s_{qn}}}
    \qquad
    \mathcal{L} = \frac{\sum_{q,p:\, g_{qp} > 0} w_{g_{qp}}\, \ell_{qp}}{\sum_{q,p:\, g_{qp} > 0} w_{g_{qp}}}

with :math:`w_2 = 1` and :math:`w_1 =` ``partial_weight``. A partial product in the negative set of
an exact anchor enters the sum with weight ``partial_negative_weight`` :math:`\in [0, 1]` (its term
becomes :math:`w\, e^{s_{qn}}`): 1 separates exact from partial as strongly as from irrelevant, lower
values push partial products down less (they still earn gain in graded metrics). A product *judged*
irrelevant for the anchor's own query (grade 0, not an unjudged in-batch product, grade -1) enters an
anchor's sum with weight ``irrelevant_negative_weight`` :math:`v > 0` (its term becomes
:math:`v\, e^{s_{qn}}`): the judged irrelevant products are the hard negatives of their query (same
product type, judged not to fit), a few among hundreds of in-batch products, and :math:`v > 1` makes
them count more, which is aimed at the separation of partial from irrelevant products. With
``symmetric=True`` each positive also contrasts its query against the other queries of the batch
that grade the product lower (product-to-query direction), and the two directions are averaged:
:math:`\ell_{qp} \leftarrow \tfrac12(\ell^{q \to p}_{qp} + \ell^{p \to q}_{qp})`. So exact products are pulled above
partial and irrelevant ones, partial products are pulled above irrelevant ones (but are *not*
contrasted with exact ones, which are not their negatives), and irrelevant products are pushed
down. ``partial_weight`` (default 0.5) sets how strongly partial products act as (weaker)
positives; 0 turns them into pure "in-between" items that are only pushed below exact products.

This is the supervised contrastive loss (SupCon) of Khosla et al. with the positive set and the
negative set of each anchor chosen by grade order, as in the Stage 1 objective of Mine and Refine.

Inputs:
    * standalone: ``graded_supcon_loss(query_emb [Q, d], product_emb [P, d], grades [Q, P])``
      where ``grades`` holds 0/1/2 (or -1 for "not judged for this query", treated as irrelevant).
    * as a sentence-transformers loss: ``GradedSupConLoss(model)`` with dataset columns
      ``(query, product)`` and a label ``[query_id, grade]`` per row; rows of one query must share
      ``query_id``. Each distinct query is encoded once per batch.

References:
    * Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, arXiv:2004.11362.
    * "Mine and Refine: Optimizing Graded Relevance in E-commerce Search Retrieval", arXiv:2602.17654.

Example::

    >>> import torch
    >>> from trainer.losses.graded_supcon import graded_supcon_loss
    >>> q = torch.nn.functional.normalize(torch.randn(2, 8), dim=-1)
    >>> p = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> grades = torch.tensor([[2, 1, 0, -1], [-1, -1, 2, 0]])
    >>> loss = graded_supcon_loss(q, p, grades, temperature=0.05)
    >>> loss.ndim
    0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.losses.graded_batch import encode_graded_batch


def graded_supcon_loss(
    query_emb: Tensor,
    product_emb: Tensor,
    grades: Tensor,
    temperature: float = 0.05,
    partial_weight: float = 0.5,
    partial_negative_weight: float = 1.0,
    symmetric: bool = False,
    irrelevant_negative_weight: float = 1.0,
) -> Tensor:
    """The loss of the module docstring. Embeddings need not be normalised (they are here)."""
    if query_emb.shape[-1] != product_emb.shape[-1]:
        raise ValueError(f"embedding sizes differ: {query_emb.shape[-1]} vs {product_emb.shape[-1]}")
    if grades.shape != (query_emb.shape[0], product_emb.shape[0]):
        raise ValueError(f"grades must be [Q, P] = {(query_emb.shape[0], product_emb.shape[0])}, got {tuple(grades.shape)}")
    if not 0.0 <= partial_negative_weight <= 1.0:
        raise ValueError("partial_negative_weight must be in [0, 1]")
    if not irrelevant_negative_weight > 0.0:
        raise ValueError("irrelevant_negative_weight must be > 0")
    q = F.normalize(query_emb, dim=-1)
    p = F.normalize(product_emb, dim=-1)
    logits = q @ p.T / temperature  # [Q, P]
    g = grades.clamp(min=0).to(logits.device)
    positive = g > 0  # [Q, P] anchors
    if not positive.any():
        return logits.sum() * 0.0
    # lower[q, a, n]: product n has a strictly lower grade than anchor a for query q.
    lower = g.unsqueeze(1) < g.unsqueeze(2)  # [Q, P(anchor), P(neg)]
    neg_logits = logits.unsqueeze(1).expand(-1, logits.shape[1], -1)
    if partial_negative_weight < 1.0:
        # a partial product as the negative of an exact anchor counts w times (log w added to its logit)
        partial_vs_exact = (g.unsqueeze(2) == 2) & (g.unsqueeze(1) == 1)
        log_w = math.log(partial_negative_weight) if partial_negative_weight > 0 else float("-inf")
        neg_logits = neg_logits + partial_vs_exact * (log_w if partial_negative_weight > 0 else 0.0)
        if partial_negative_weight == 0:
            lower = lower & ~partial_vs_exact
    if irrelevant_negative_weight != 1.0:
        judged_irrelevant = (grades.to(logits.device) == 0).unsqueeze(1)  # [Q, 1, P(neg)]
        neg_logits = neg_logits + judged_irrelevant * math.log(irrelevant_negative_weight)
    neg_logits = neg_logits.masked_fill(~lower, float("-inf"))
    denom = torch.logsumexp(torch.cat([logits.unsqueeze(2), neg_logits], dim=2), dim=2)  # [Q, P]
    per_pair = denom - logits  # -log softmax of the anchor against its negatives
    if symmetric:
        # product -> query: the anchor product must prefer its query over queries that grade it lower
        lower_q = g.unsqueeze(0) < g.unsqueeze(1)  # [Q(anchor), Q(other), P]
        other = logits.unsqueeze(0).expand(logits.shape[0], -1, -1).masked_fill(~lower_q, float("-inf"))
        denom_q = torch.logsumexp(torch.cat([logits.unsqueeze(1), other], dim=1), dim=1)  # [Q, P]
        per_pair = 0.5 * (per_pair + (denom_q - logits))
    weights = torch.where(g == 2, torch.ones_like(logits), torch.full_like(logits, partial_weight))
    weights = weights * positive
    total = weights.sum()
    if total <= 0:
        return logits.sum() * 0.0
    return (per_pair * weights).sum() / total


class GradedSupConLoss(nn.Module):
    """sentence-transformers wrapper of :func:`graded_supcon_loss` (see the module docstring)."""

    def __init__(self, model: nn.Module, temperature: float = 0.05, partial_weight: float = 0.5,
                 partial_negative_weight: float = 1.0, symmetric: bool = False,
                 irrelevant_negative_weight: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.temperature = temperature
        self.partial_weight = partial_weight
        self.partial_negative_weight = partial_negative_weight
        self.symmetric = symmetric
        self.irrelevant_negative_weight = irrelevant_negative_weight

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        return self.from_embeddings(*encode_graded_batch(self.model, sentence_features, labels))

    def from_embeddings(self, query_emb: Tensor, product_emb: Tensor, grade_matrix: Tensor) -> Tensor:
        """The loss on an already encoded batch (lets :class:`~trainer.losses.mixed.MixedLoss` encode once)."""
        return graded_supcon_loss(query_emb, product_emb, grade_matrix, self.temperature, self.partial_weight,
                                  self.partial_negative_weight, self.symmetric, self.irrelevant_negative_weight)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "partial_weight": self.partial_weight,
                "partial_negative_weight": self.partial_negative_weight, "symmetric": self.symmetric,
                "irrelevant_negative_weight": self.irrelevant_negative_weight}

    @property
    def citation(self) -> str:
        return "@inproceedings{khosla2020supcon, title={Supervised Contrastive Learning}, author={Khosla, Prannay and others}, booktitle={NeurIPS}, year={2020}}"
