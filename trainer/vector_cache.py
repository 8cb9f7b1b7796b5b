"""Catalog embeddings cached on disk, so one model encodes the catalog once per run.

Encoding the whole catalog is the slow part of evaluation, boundary learning and mining (about six
minutes for the 54,667 Home Depot titles on 2 cores), and a run asks for the same model's catalog
vectors several times: Stage 2 mines with the Stage 1 model, evaluation scores the Stage 1 model,
and boundaries are learned for it. :class:`CatalogVectors` keys a ``.npy`` file on

* the model's *content*: a SHA-256 over its weights, its sequence length and its modules' configs
  (:func:`model_fingerprint`), so a retrained model never reads a stale file;
* the catalog's texts, in order (:func:`texts_fingerprint`).

Files live in ``RUN/cache/vectors/`` (about 84 MB per model for a 55k-product catalog at 384
dimensions; deleting the folder is always safe) and are written atomically (temporary file, then
rename), so an interrupted run leaves no half-written vectors behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mr_opensearch.core.hashing import sha256_of_chunks, short_key
from trainer.data import Catalog


def model_fingerprint(model) -> str:
    """A SHA-256 (16 hex digits) of a sentence-transformers model's weights, sequence length and
    module configs: equal for equal models, different after any training step."""
    import torch

    def chunks():
        for name, tensor in sorted(model.state_dict().items()):
            yield name.encode()
            yield tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        modules = [(type(m).__name__, m.get_config_dict() if hasattr(m, "get_config_dict") else None) for m in model]
        yield json.dumps([model.max_seq_length, modules], sort_keys=True, default=str).encode()

    return short_key(sha256_of_chunks(chunks()))


def texts_fingerprint(texts: list[str]) -> str:
    return short_key(sha256_of_chunks(chunk for text in texts for chunk in (text.encode(), b"\0")))


class CatalogVectors:
    """The catalog's embeddings under one model, read from ``directory`` when present, else encoded
    with ``encode`` and written there. ``directory=None`` disables the disk cache (vectors are still
    kept in memory after the first call)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], catalog: Catalog, fingerprint: str,
                 directory: Path | None) -> None:
        self.encode = encode
        self.catalog = catalog
        self.path = (Path(directory) / f"{fingerprint}-{texts_fingerprint(catalog.texts)}.npy") if directory else None
        self._vectors: np.ndarray | None = None

    @property
    def cached(self) -> bool:
        return self._vectors is not None or (self.path is not None and self.path.exists())

    def load_or_encode(self) -> np.ndarray:
        if self._vectors is not None:
            return self._vectors
        if self.path is not None and self.path.exists():
            vectors = np.load(self.path)
            if vectors.shape[0] == len(self.catalog):
                self._vectors = vectors
                return vectors
        vectors = np.asarray(self.encode(self.catalog.texts), dtype=np.float32)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(partial, "wb") as handle:
                np.save(handle, vectors)
            partial.replace(self.path)
        self._vectors = vectors
        return vectors


def run_vector_cache(run_dir: Path | None) -> Path | None:
    """Where a run keeps its catalog vectors (``RUN/cache/vectors``)."""
    return Path(run_dir) / "cache" / "vectors" if run_dir is not None else None
