"""Sentence embeddings from an exported ONNX token-embedding model, pooled the way ML Commons does.

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
Client mode must embed exactly the same way, so :func:`load_served_encoder` reads both settings from
the package's ``ml-commons.json``. Only numpy, onnxruntime and tokenizers are needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError

POOLING_MODES = ("mean", "mean_sqrt_len", "max", "cls")
ML_COMMONS_MAX_LENGTH = 512
REEXPORT = "re-export the model with `mros export`"


def _pooling_mode(mode: str) -> str:
    name = str(mode).strip().lower()
    if name not in POOLING_MODES:
        raise MrosError(f"pooling mode {mode!r} is not one ML Commons 3.5 runs for ONNX models",
                        f"use one of {', '.join(POOLING_MODES)}")
    return name


class OnnxEncoder:
    """Sentence embeddings from an exported ONNX token-embedding model (``pooling`` then L2 if ``normalize``)."""

    def __init__(self, onnx_path: Path, tokenizer_json: Path, pooling: str = "mean", normalize: bool = True,
                 threads: int | None = None, spinning: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        pooling = _pooling_mode(pooling)
        for path, what in ((onnx_path, "ONNX model"), (tokenizer_json, "tokenizer")):
            if not Path(path).is_file():
                raise MrosError(f"{what} {path} not found", REEXPORT)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:  # idle intra-op threads sleep instead of spinning: leaves the CPU to a busy neighbour
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise MrosError(f"{onnx_path} is not a valid ONNX model ({exc.__class__.__name__}: {str(exc)[:200]}); "
                            "re-export with `mros export`", REEXPORT) from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:
            raise MrosError(f"{tokenizer_json} is not a tokenizers file ({exc})", REEXPORT) from None
        truncation = self.tokenizer.truncation
        if truncation is None:
            self.tokenizer.enable_truncation(ML_COMMONS_MAX_LENGTH)
        elif int(truncation.get("max_length", 0)) > ML_COMMONS_MAX_LENGTH:
            self.tokenizer.enable_truncation(ML_COMMONS_MAX_LENGTH, stride=truncation.get("stride", 0),
                                             strategy=truncation.get("strategy", "longest_first"),
                                             direction=truncation.get("direction", "right"))
        self.tokenizer.enable_padding()
        self.pooling = pooling
        self.normalize = normalize
        self._dimension: int | None = None

    @classmethod
    def from_package(cls, onnx_dir: Path, threads: int | None = None, variant: str | None = None,
                     spinning: bool = True) -> OnnxEncoder:
        """The encoder of a packaged model (``RUN/onnx`` or a served copy), with the ``pooling_mode`` and
        ``normalize_result`` its ``ml-commons.json`` declares; refuses a model whose output size is not the
        recorded ``embedding_dimension``. ``variant`` (int8/fp32) overrides the packaged variant."""
        onnx, tokenizer, meta = served_files(onnx_dir, variant)
        config = meta.get("model_config") or {}
        encoder = cls(onnx, tokenizer, pooling=str(config.get("pooling_mode", "mean")),
                      normalize=bool(config.get("normalize_result", True)), threads=threads, spinning=spinning)
        expected = config.get("embedding_dimension")
        if expected is not None and encoder.dimension != int(expected):
            raise MrosError(f"{onnx} makes {encoder.dimension}-d vectors, ml-commons.json says {expected}", REEXPORT)
        return encoder

    @property
    def dimension(self) -> int:
        """Length of one embedding (the graph's static output size, else measured on one text)."""
        if self._dimension is None:
            size = self.session.get_outputs()[0].shape[-1]
            self._dimension = size if isinstance(size, int) else int(self.encode(["dimension probe"]).shape[1])
        return self._dimension

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings in the order of ``texts``; batches are formed from texts of similar length
        (less padding), as sentence-transformers does."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        ordered = [texts[i] for i in order]
        out = []
        for start in range(0, len(ordered), batch_size):
            encodings = self.tokenizer.encode_batch(ordered[start : start + batch_size])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            tokens = self.session.run(None, {n: feeds[n] for n in self.input_names})[0]
            out.append(pool(tokens, mask, self.pooling, self.normalize))
        if not out:
            return np.zeros((0, 0), dtype=np.float32)
        embeddings = np.concatenate(out)
        result = np.empty_like(embeddings)
        result[order] = embeddings
        return result


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str = "mean", normalize: bool = True) -> np.ndarray:
    """Pool token embeddings ``[batch, seq, dim]`` with the attention mask; L2-normalise if asked."""
    m = mask[..., None].astype(np.float32)
    mode = _pooling_mode(mode)
    if mode == "cls":
        emb = tokens[:, 0]
    elif mode == "max":
        emb = np.where(m > 0, tokens, -1e9).max(axis=1)
    elif mode == "mean_sqrt_len":
        emb = (tokens * m).sum(axis=1) / np.sqrt(np.clip(m.sum(axis=1), 1e-9, None))
    else:
        emb = (tokens * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    if normalize:
        emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    return emb.astype(np.float32)


def served_files(onnx_dir: Path, variant: str | None = None) -> tuple[Path, Path, dict[str, Any]]:
    """``(model.onnx, tokenizer.json, ml-commons.json contents)`` of an export folder (``RUN/onnx`` with
    ``<variant>/model.onnx``, the variant from ml-commons.json unless ``variant`` is given) or of a
    served copy (``model.onnx`` beside ``ml-commons.json``)."""
    onnx_dir = Path(onnx_dir)
    if not onnx_dir.is_dir():
        raise MrosError(f"model folder {onnx_dir} not found", "pass the RUN/onnx folder of an exported run")
    meta_path = onnx_dir / "ml-commons.json"
    if not meta_path.exists():
        raise MrosError(f"{meta_path} not found", "export the model with `mros export`, or pass the RUN/onnx folder")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{meta_path}: not valid JSON ({exc})", REEXPORT) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model_config") or {}, dict):
        raise MrosError(f"{meta_path}: expected an object with a model_config object", REEXPORT)
    if variant is not None and not (onnx_dir / variant / "model.onnx").exists():
        raise MrosError(f"{onnx_dir / variant / 'model.onnx'} not found", REEXPORT)
    variant = str(variant or meta.get("variant") or ".")
    folder = onnx_dir / variant if (onnx_dir / variant / "model.onnx").exists() else onnx_dir
    onnx, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
    for path in (onnx, tokenizer):
        if not path.exists():
            raise MrosError(f"{path} not found", REEXPORT)
    return onnx, tokenizer, meta


def load_served_encoder(onnx_dir: Path, threads: int | None = None, variant: str | None = None) -> OnnxEncoder:
    """The encoder of a packaged model, with the ``pooling_mode`` and ``normalize_result`` it declares
    (see :meth:`OnnxEncoder.from_package`)."""
    return OnnxEncoder.from_package(onnx_dir, threads=threads, variant=variant)
