"""A scorer over a hand-made query x product score table (a real scorer object, no OpenSearch), shared
by the evaluator and bootstrap tests."""

from __future__ import annotations

import numpy as np

from trainer.data import Catalog


class TableScorer:
    """Scores from a fixed table: ``table[query]`` holds one score per catalog product, in catalog order."""

    name = "table"

    def __init__(self, catalog: Catalog, table: dict[str, list[float]]):
        self.catalog, self.table = catalog, table

    def retrieve(self, queries, k):
        scores = np.array([self.table[q] for q in queries])
        idx = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return idx, np.take_along_axis(scores, idx, axis=1)

    def score_pairs(self, queries, product_ids):
        return np.array([self.table[q][self.catalog.position[p]] for q, p in zip(queries, product_ids, strict=True)])
