"""The catalog-vector cache: one encode per model and catalog, keyed on content, reused by scorers."""

from __future__ import annotations

import numpy as np
import torch
from tiny_models import build_tiny_sentence_transformer

from trainer.data import Catalog
from trainer.encoder import load_encoder
from trainer.evaluation.scorers import dense_scorer
from trainer.vector_cache import CatalogVectors, model_fingerprint, run_vector_cache

TEXTS = ["cordless drill 18v", "taladro inalámbrico", "電動ドリル", "hammer", "paint roller", "garden hose"]


class CountingEncoder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0, float(i)] for i, t in enumerate(texts)], dtype=np.float32)


def test_catalog_is_encoded_once_and_read_back_from_disk(tmp_path):
    catalog = Catalog([f"p{i}" for i in range(len(TEXTS))], TEXTS)
    first = CountingEncoder()
    vectors = CatalogVectors(first, catalog, "model-a", tmp_path)
    assert not vectors.cached
    encoded = vectors.load_or_encode()
    assert first.calls == [TEXTS] and vectors.cached
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, no temporary left behind

    second = CountingEncoder()
    again = CatalogVectors(second, catalog, "model-a", tmp_path)
    assert again.cached
    np.testing.assert_array_equal(again.load_or_encode(), encoded)
    assert second.calls == []  # read from disk

    other_model = CatalogVectors(second, catalog, "model-b", tmp_path)
    other_catalog = CatalogVectors(second, Catalog(["x"], ["changed text"]), "model-a", tmp_path)
    assert not other_model.cached and not other_catalog.cached


def test_fingerprint_follows_the_weights(tmp_path):
    path = build_tiny_sentence_transformer(tmp_path / "tiny", TEXTS * 5)
    a, b = load_encoder(str(path), 32), load_encoder(str(path), 32)
    assert model_fingerprint(a) == model_fingerprint(b)
    b.max_seq_length = 16
    assert model_fingerprint(a) != model_fingerprint(b)
    with torch.no_grad():
        next(a.parameters()).add_(1e-3)
    assert model_fingerprint(a) != model_fingerprint(load_encoder(str(path), 32))


def test_dense_scorer_reuses_cached_vectors_for_pairs(tmp_path):
    path = build_tiny_sentence_transformer(tmp_path / "tiny", TEXTS * 5)
    catalog = Catalog([f"p{i}" for i in range(len(TEXTS))], TEXTS)
    cache = run_vector_cache(tmp_path / "run")
    first = dense_scorer(load_encoder(str(path), 32), catalog, cache_dir=cache)
    top, _ = first.retrieve(["drill"], 3)
    assert len(list(cache.glob("*.npy"))) == 1

    second = dense_scorer(load_encoder(str(path), 32), catalog, cache_dir=cache)
    encoded: list[list[str]] = []
    inner = second.encode
    second.encode = lambda texts: encoded.append(list(texts)) or inner(texts)
    second.vectors.encode = second.encode
    scores = second.score_pairs(["drill", "drill"], ["p0", "p3"])
    assert encoded == [["drill"]]  # only the query: the products came from the cache
    expected = first.score_pairs(["drill", "drill"], ["p0", "p3"])
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert top.shape == (1, 3)
