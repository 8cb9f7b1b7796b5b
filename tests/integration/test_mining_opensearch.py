"""Stage 2 mining with the k-NN index of a live cluster finds the same neighbours as faiss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.config import MiningConfig
from trainer.data import Catalog, Judgments
from trainer.mining import mine

pytestmark = [pytest.mark.integration]


def test_opensearch_backend_matches_exact_faiss(opensearch_url, opensearch_client, require_plugins):
    require_plugins("opensearch-knn")
    rng = np.random.default_rng(3)
    n = 60
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    catalog = Catalog([f"p{i}" for i in range(n)], [f"product {i}" for i in range(n)])
    queries = [f"query {i}" for i in range(6)]
    q_vectors = rng.normal(size=(6, 16)).astype(np.float32)
    q_vectors /= np.linalg.norm(q_vectors, axis=1, keepdims=True)
    table = {**dict(zip(catalog.texts, vectors, strict=True)), **dict(zip(queries, q_vectors, strict=True))}

    def encode(texts):
        return np.stack([table[t] for t in texts])

    judgments = Judgments(pd.DataFrame([(q, "p0", 1) for q in queries], columns=["query", "product_id", "grade"]))

    def labeler(qs, texts):  # grades every mined pair "partial"
        return np.ones(len(texts), dtype=int), np.tile([0.2, 0.6, 0.2], (len(texts), 1))

    faiss = mine(encode, judgments, catalog, MiningConfig(k=8, max_unjudged=4, index="flat"), labeler=labeler)
    engine = mine(encode, judgments, catalog, MiningConfig(k=8, max_unjudged=4, backend="opensearch",
                                                           opensearch_url=opensearch_url), labeler=labeler)
    assert len(faiss.pairs) == 6 * 4  # four unjudged neighbours per query
    key = ["query", "product_id"]
    assert engine.pairs[key].values.tolist() == faiss.pairs[key].values.tolist()
    assert np.allclose(engine.pairs["score"], faiss.pairs["score"], atol=1e-4)
    for name in opensearch_client.indices.get(index="mros-mining-*"):
        opensearch_client.indices.delete(index=name)
