"""Sentence embeddings from an exported ONNX token-embedding model, pooled the way ML Commons does.

ML Commons 3.5 runs the graph, takes output 0 (token embeddings), pools with the attention mask
(``pooling_mode``: ``mean``, ``mean_sqrt_len``, ``max``, ``cls``) and L2-normalises when
``normalize_result`` is true (``ONNXSentenceTransformerTextEmbeddingTranslator``). Client mode must
embed exactly the same way, so :func:`load_served_encoder` reads both settings from the package's
``ml-commons.json``. Only numpy, onnxruntime and tokenizers are needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.errors import MrosError

POOLING_MODES = ("mean", "mean_sqrt_len", "max", "cls")
ML_COMMONS_MAX_LENGTH = 512


class OnnxEncoder:
    """Sentence embeddings from an exported ONNX token-embedding model (``pooling`` then L2 if ``normalize``)."""

    def __init__(self, onnx_path: Path, tokenizer_json: Path, pooling: str = "mean", normalize: bool = True,
                 threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        pooling = pooling.lower()
        if pooling not in POOLING_MODES:
            raise MrosError(f"pooling mode {pooling!r} is not one ML Commons 3.5 runs for ONNX models",
                            f"use one of {', '.join(POOLING_MODES)}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise MrosError(f"{onnx_path} is not a valid ONNX model ({exc.__class__.__name__}: {str(exc)[:200]})",
                            "re-export the model with `mros export`") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_json))
        except Exception as exc:
            raise MrosError(f"{tokenizer_json} is not a tokenizers file ({exc})", "re-export the model with `mros export`") from None
        if self.tokenizer.truncation is None or self.tokenizer.truncation.get("max_length", 0) > ML_COMMONS_MAX_LENGTH:
            self.tokenizer.enable_truncation(ML_COMMONS_MAX_LENGTH)
        self.tokenizer.enable_padding()
        self.pooling = pooling
        self.normalize = normalize

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
    mode = mode.lower()
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


def served_files(onnx_dir: Path) -> tuple[Path, Path, dict[str, Any]]:
    """``(model.onnx, tokenizer.json, ml-commons.json contents)`` of an export folder (``RUN/onnx`` with
    ``<variant>/model.onnx``) or of a served copy (``model.onnx`` beside ``ml-commons.json``)."""
    onnx_dir = Path(onnx_dir)
    meta_path = onnx_dir / "ml-commons.json"
    if not meta_path.exists():
        raise MrosError(f"{meta_path} not found", "export the model with `mros export`, or pass the RUN/onnx folder")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{meta_path}: not valid JSON ({exc})", "re-export the model with `mros export`") from None
    variant = str(meta.get("variant") or ".")
    folder = onnx_dir / variant if (onnx_dir / variant / "model.onnx").exists() else onnx_dir
    onnx, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
    for path in (onnx, tokenizer):
        if not path.exists():
            raise MrosError(f"{path} not found", "re-export the model with `mros export`")
    return onnx, tokenizer, meta


def load_served_encoder(onnx_dir: Path, threads: int | None = None) -> OnnxEncoder:
    """The encoder of a packaged model, with the ``pooling_mode`` and ``normalize_result`` it declares."""
    onnx, tokenizer, meta = served_files(onnx_dir)
    config = meta.get("model_config") or {}
    encoder = OnnxEncoder(onnx, tokenizer, pooling=str(config.get("pooling_mode", "mean")),
                          normalize=bool(config.get("normalize_result", True)), threads=threads)
    expected = config.get("embedding_dimension")
    if expected is not None:
        probe = encoder.encode(["dimension probe"])
        if probe.shape[1] != int(expected):
            raise MrosError(f"{onnx} makes {probe.shape[1]}-d vectors, ml-commons.json says {expected}",
                            "re-export the model with `mros export`")
    return encoder
