"""Scorers: what the evaluator ranks with. Each retrieves top-k product positions over the whole
catalog and scores given (query, product) pairs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trainer.data import Catalog
from trainer.vector_cache import CatalogVectors

EncodeFn = Callable[[list[str]], np.ndarray]


class DenseScorer:
    """Cosine similarity between normalised query and product embeddings (exact search).

    ``vectors``: the catalog's embeddings through a disk cache (:class:`~trainer.vector_cache.CatalogVectors`);
    without it the catalog is encoded on first use."""

    def __init__(self, encode: EncodeFn, catalog: Catalog, name: str = "dense", vectors: CatalogVectors | None = None) -> None:
        self.encode = encode
        self.catalog = catalog
        self.name = name
        self.vectors = vectors
        self._products: np.ndarray | None = None

    @property
    def product_embeddings(self) -> np.ndarray:
        if self._products is None:
            raw = self.vectors.load_or_encode() if self.vectors is not None else self.encode(self.catalog.texts)
            self._products = _normalise(raw)
        return self._products

    def retrieve(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _normalise(self.encode(queries))
        docs = self.product_embeddings
        k = min(k, docs.shape[0])
        top_idx = np.zeros((len(queries), k), dtype=np.int64)
        top_scores = np.zeros((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), 256):
            scores = q[start : start + 256] @ docs.T
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            part_scores = np.take_along_axis(scores, part, axis=1)
            order = np.argsort(-part_scores, axis=1, kind="stable")
            top_idx[start : start + 256] = np.take_along_axis(part, order, axis=1)
            top_scores[start : start + 256] = np.take_along_axis(part_scores, order, axis=1)
        return top_idx, top_scores

    def score_pairs(self, queries: list[str], product_ids: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(queries))
        q = _normalise(self.encode(unique))
        row = {text: i for i, text in enumerate(unique)}
        if self._products is not None or (self.vectors is not None and self.vectors.cached):
            docs = self.product_embeddings
            pos = [self.catalog.position[p] for p in product_ids]
        else:  # encode only the products asked for, not the whole catalog
            needed = list(dict.fromkeys(product_ids))
            docs = _normalise(self.encode([self.catalog.text(p) for p in needed]))
            index = {p: i for i, p in enumerate(needed)}
            pos = [index[p] for p in product_ids]
        return np.einsum("ij,ij->i", q[[row[t] for t in queries]], docs[pos]).astype(np.float32)


class BM25Scorer:
    """BM25 (Lucene variant, k1=1.2, b=0.75) over product texts; Unicode-aware tokens, no stopword
    list (so it is not English-only)."""

    def __init__(self, catalog: Catalog, name: str = "bm25") -> None:
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG
        self.catalog = catalog
        self.name = name
        self._bm25s = bm25s
        self.retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        self.retriever.index(bm25s.tokenize(catalog.texts, stopwords=None, show_progress=False), show_progress=False)

    def _scores(self, query: str) -> np.ndarray:
        tokens = self._bm25s.tokenize([query], stopwords=None, show_progress=False, return_ids=False)[0]
        return self.retriever.get_scores(tokens)

    def retrieve(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.catalog))
        idx = np.zeros((len(queries), k), dtype=np.int64)
        out = np.zeros((len(queries), k), dtype=np.float32)
        for i, query in enumerate(queries):
            scores = self._scores(query)
            part = np.argpartition(-scores, k - 1)[:k]
            order = part[np.argsort(-scores[part], kind="stable")]
            idx[i], out[i] = order, scores[order]
        return idx, out

    def score_pairs(self, queries: list[str], product_ids: list[str]) -> np.ndarray:
        cache: dict[str, np.ndarray] = {}
        result = np.zeros(len(queries), dtype=np.float32)
        for i, (query, pid) in enumerate(zip(queries, product_ids, strict=True)):
            if query not in cache:
                cache[query] = self._scores(query)
            result[i] = cache[query][self.catalog.position[pid]]
        return result


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def sentence_transformer_encoder(model, batch_size: int = 128, progress: bool = False) -> EncodeFn:
    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                            show_progress_bar=progress and len(texts) > 1000)

    return encode


def dense_scorer(model, catalog: Catalog, name: str = "dense", batch_size: int = 128, progress: bool = False,
                 cache_dir=None) -> DenseScorer:
    """A :class:`DenseScorer` over a sentence-transformers model whose catalog vectors go through the
    disk cache in ``cache_dir`` (``None``: no disk cache)."""
    from trainer.vector_cache import model_fingerprint

    encode = sentence_transformer_encoder(model, batch_size, progress)
    vectors = CatalogVectors(encode, catalog, model_fingerprint(model), cache_dir) if cache_dir is not None else None
    return DenseScorer(encode, catalog, name, vectors)
