"""``mros embed``: a catalog's vectors computed once, anywhere, into a vectors file (:mod:`vectors_file`) that
``mros deploy --vectors`` loads instead of embedding.

The texts are those a deploy embeds (:func:`mr_opensearch.deploy.deploy.deploy_target`), fed to the encoder
exactly as an in-process client-mode deploy feeds it (:func:`mr_opensearch.deploy.deploy.encoded_batches`:
longest first, the same batch sizes, the same workers), so the file holds the very vectors such a deploy would
write. (The int8 export quantizes activations per batch, so a text's vector depends slightly on its batch
companions: a vector embedded elsewhere, e.g. by :class:`mr_opensearch.search.embedder.Embedder` in a Ray job,
agrees with the deploy's to a cosine above 0.9999, not bit for bit.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.deploy.deploy import (
    DeployOptions,
    deploy_target,
    encode_workers,
    encoded_batches,
    open_encode,
)
from mr_opensearch.search.served_model import ServedModel, client_variant, for_client
from mr_opensearch.search.vectors_file import ModelStamp, VectorsWriter


@dataclass
class EmbedResult:
    out: str
    variant: str
    """The encoder variant that embedded (the one a client-mode deploy of the run uses)."""
    products: int
    dimension: int
    model_sha256: str
    onnx_sha256: str
    seconds: float

    @property
    def titles_per_second(self) -> float:
        return self.products / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "titles_per_second": round(self.titles_per_second, 1)}


def stamp_of(model: ServedModel) -> ModelStamp:
    return ModelStamp(model_sha256=model.sha256, onnx_sha256=model.onnx_sha256, dimension=model.dimension)


def embed_catalog(model: ServedModel, catalog: Any, out: Path, *, options: DeployOptions | None = None,
                  encode: Callable[[list[str]], np.ndarray] | None = None,
                  progress: Callable[[int], None] | None = None) -> EmbedResult:
    """Embed ``catalog`` (a :class:`~mr_opensearch.core.catalog.ServingCatalog`) with ``model`` into ``out``.

    ``options``: the deploy settings whose texts and batches to reproduce (``text_fields``,
    ``embedding_fields``, ``batch_size``, ``encode_batch_size``, ``encode_workers``); ``progress(n)`` is
    called with each batch's size."""
    options = options or DeployOptions(alias="mros-embed")
    started = time.time()
    model = for_client(model, client_variant(model)[0])  # the variant a client-mode deploy embeds with
    target = deploy_target(model, catalog, options)
    if encode is None:
        encode = open_encode(model, options)
    docs = [{"product_id": pid, "embedding_text": text} for pid, text in zip(target.ids, target.texts, strict=True)]
    timer = {"encode": 0.0}
    with VectorsWriter(out, stamp_of(model)) as writer:
        for chunk, vectors in encoded_batches(docs, encode, options.batch_size, timer, encode_workers(options)):
            writer.write([d["product_id"] for d in chunk], [d["embedding_text"] for d in chunk], vectors)
            if progress is not None:
                progress(len(chunk))
    return EmbedResult(out=str(out), variant=model.variant, products=len(docs), dimension=model.dimension, model_sha256=model.sha256,
                       onnx_sha256=model.onnx_sha256, seconds=round(time.time() - started, 3))
