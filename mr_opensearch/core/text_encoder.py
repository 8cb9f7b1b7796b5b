"""What every client-mode encoder shares: the tokenizer as ML Commons truncates it, token-length batches,
and pooling the way ML Commons pools.

ML Commons 3.5 runs the graph, takes output 0 (token embeddings), pools with the attention mask
(``pooling_mode``: ``mean``, ``mean_sqrt_len``, ``max``, ``cls``) and L2-normalises when
``normalize_result`` is true (``ONNXSentenceTransformerTextEmbeddingTranslator``). With token
embeddings ``T_t`` and attention mask ``m_t``::

    mean            sum_t m_t T_t / sum_t m_t
    mean_sqrt_len   sum_t m_t T_t / sqrt(sum_t m_t)
    max             max over the t with m_t = 1 of T_t
    cls             T_0

then ``e / ||e||_2`` if ``normalize_result``. Texts are truncated at min(tokenizer.json
``truncation.max_length``, 512) tokens, 512 when tokenizer.json sets none (DJL's HuggingFaceTokenizer).
Client mode must embed exactly the same way whatever runtime runs the graph: a runtime only supplies
:meth:`PooledEncoder.token_embeddings` (:mod:`mr_opensearch.core.onnx_encoder`,
:mod:`mr_opensearch.core.openvino_encoder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.token_batches import TokenBatch, token_batches

POOLING_MODES = ("mean", "mean_sqrt_len", "max", "cls")
ML_COMMONS_MAX_LENGTH = 512
REEXPORT = "re-export the model with `mros export`"


def pooling_mode(mode: str) -> str:
    name = str(mode).strip().lower()
    if name not in POOLING_MODES:
        raise MrosError(f"pooling mode {mode!r} is not one ML Commons 3.5 runs for ONNX models",
                        f"use one of {', '.join(POOLING_MODES)}")
    return name


def load_tokenizer(tokenizer_json: Path) -> Any:
    """The ``tokenizers.Tokenizer`` of ``tokenizer_json``, truncating as ML Commons does, without padding
    (batches are padded by :func:`mr_opensearch.core.token_batches.token_batches`)."""
    from tokenizers import Tokenizer

    if not Path(tokenizer_json).is_file():
        raise MrosError(f"tokenizer {tokenizer_json} not found", REEXPORT)
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
    except Exception as exc:
        raise MrosError(f"{tokenizer_json} is not a tokenizers file ({exc})", REEXPORT) from None
    truncation = tokenizer.truncation
    if truncation is None:
        tokenizer.enable_truncation(ML_COMMONS_MAX_LENGTH)
    elif int(truncation.get("max_length", 0)) > ML_COMMONS_MAX_LENGTH:
        tokenizer.enable_truncation(ML_COMMONS_MAX_LENGTH, stride=truncation.get("stride", 0),
                                    strategy=truncation.get("strategy", "longest_first"),
                                    direction=truncation.get("direction", "right"))
    tokenizer.no_padding()
    return tokenizer


class PooledEncoder:
    """Sentence embeddings from a token-embedding graph: ``pooling`` then L2 if ``normalize``. A runtime
    subclass sets ``input_names`` and implements :meth:`token_embeddings`; ``variant`` names the package
    variant it runs (recorded in the manifest of the indices it fills)."""

    variant = "onnx"
    input_names: list[str]
    pad_to_multiple = 1
    """Each batch is padded to a multiple of this many tokens (:func:`token_batches`); the query encoder of
    the OpenVINO variant sets 8 (:mod:`mr_opensearch.search.queries`)."""

    def __init__(self, tokenizer_json: Path, pooling: str = "mean", normalize: bool = True) -> None:
        self.pooling = pooling_mode(pooling)
        self.tokenizer = load_tokenizer(tokenizer_json)
        self.normalize = normalize
        self._dimension: int | None = None

    def token_embeddings(self, batch: TokenBatch) -> np.ndarray:
        """``[batch, sequence, dimension]`` token embeddings of one padded batch."""
        raise NotImplementedError

    def static_dimension(self) -> int | None:
        """The graph's output size when it is fixed in the graph, else None."""
        return None

    @property
    def dimension(self) -> int:
        """Length of one embedding (the graph's static output size, else measured on one text)."""
        if self._dimension is None:
            self._dimension = self.static_dimension() or int(self.encode(["dimension probe"]).shape[1])
        return self._dimension

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings in the order of ``texts``; each batch holds texts of about one token count, so little
        is padded (:func:`mr_opensearch.core.token_batches.token_batches`)."""
        result: np.ndarray | None = None
        for batch in token_batches(self.tokenizer, texts, batch_size, self.pad_to_multiple):
            pooled = pool(self.token_embeddings(batch), batch.attention_mask, self.pooling, self.normalize)
            if result is None:
                result = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            result[batch.positions] = pooled
        return result if result is not None else np.zeros((0, 0), dtype=np.float32)


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str = "mean", normalize: bool = True) -> np.ndarray:
    """Pool token embeddings ``[batch, seq, dim]`` with the attention mask; L2-normalise if asked."""
    m = mask[..., None].astype(np.float32)
    mode = pooling_mode(mode)
    if mode == "cls":
        emb = tokens[:, 0]
    elif mode == "max":
        emb = np.where(m > 0, tokens, -1e9).max(axis=1)
    elif mode == "mean_sqrt_len":
        emb = np.einsum("bsd,bs->bd", tokens, m[..., 0]) / np.sqrt(np.clip(m.sum(axis=1), 1e-9, None))
    else:
        emb = np.einsum("bsd,bs->bd", tokens, m[..., 0]) / np.clip(m.sum(axis=1), 1e-9, None)
    if normalize:
        emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    return emb.astype(np.float32)
