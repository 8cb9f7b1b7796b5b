"""Turning a sentence-transformers batch of graded rows into what the graded losses take.

Rows are ``(query, product)`` pairs with a label ``[query_id, grade]``; rows of one query share the
id. Each distinct query is encoded once; the grade matrix ``[Q, B]`` holds each row's grade for its
own query and -1 (not judged for this query, so irrelevant) for every other query's rows (in-batch
negatives); a 0 is a product judged irrelevant for that very query.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def first_occurrence(ids: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct values of ``ids`` in order of first appearance, and the index of each first appearance."""
    unique, inverse = torch.unique(ids, sorted=True, return_inverse=True)
    positions = torch.arange(ids.shape[0], device=ids.device)
    first = torch.full((unique.shape[0],), ids.shape[0], dtype=torch.long, device=ids.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    order = torch.argsort(first)
    return unique[order], first[order]


def encode_graded_batch(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]],
                        labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(query embeddings [Q, d], product embeddings [B, d], grades [Q, B])`` of a batch."""
    query_features, product_features = list(sentence_features)
    query_ids, grades = labels[:, 0], labels[:, 1]
    unique_ids, first = first_occurrence(query_ids)
    query_rows = {k: v[first] if torch.is_tensor(v) and v.shape[:1] == query_ids.shape else v
                  for k, v in query_features.items()}
    query_emb = model(query_rows)["sentence_embedding"]
    product_emb = model(product_features)["sentence_embedding"]
    same_query = unique_ids.unsqueeze(1) == query_ids.unsqueeze(0)  # [Q, B]
    grade_matrix = torch.where(same_query, grades.unsqueeze(0).expand_as(same_query),
                               torch.full_like(same_query, -1, dtype=grades.dtype))
    return query_emb, product_emb, grade_matrix
