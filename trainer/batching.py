"""Query-grouped batches: every query brings all of its graded products into the batch.

The training dataset holds one row per (query, product) with label ``[query_id, grade]``, rows of a
query contiguous. :class:`QueryGroupedBatchSampler` shuffles *queries* (seeded, per epoch) and
emits batches of ``batch_size`` whole queries, so the loss sees each query's exact, partial and
irrelevant products together, and the products of the other queries as in-batch negatives.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler


def query_groups(query_ids: list[int]) -> list[list[int]]:
    """Row indices grouped by query id, in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for row, qid in enumerate(query_ids):
        groups.setdefault(int(qid), []).append(row)
    return list(groups.values())


class QueryGroupedBatchSampler(DefaultBatchSampler):
    """Batches of ``batch_size`` queries (not rows) with all their rows.

    ``batch_size`` is the number of *queries* per batch; the row count varies with how many
    products each query has (capped when the dataset is built). When labels carry a third value
    (a group id: a query's products split into groups), the members are groups instead.
    """

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None,
                 generator: torch.Generator | None = None, seed: int = 0) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        labels = dataset["label"]
        # label [query_id, grade] or [query_id, grade, group_id]: a batch member is a group of rows
        self.groups = query_groups([int(label[2] if len(label) > 2 else label[0]) for label in labels])

    def __len__(self) -> int:
        n = len(self.groups)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + int(getattr(self, "epoch", 0)))
        order = torch.randperm(len(self.groups), generator=generator).tolist()
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            if self.drop_last and len(chunk) < self.batch_size:
                return
            yield [row for g in chunk for row in self.groups[g]]
