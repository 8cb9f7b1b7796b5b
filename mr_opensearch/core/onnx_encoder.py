"""The exported ONNX token-embedding model run by onnxruntime, pooled as ML Commons pools
(:mod:`mr_opensearch.core.text_encoder`).

It runs the package variants ML Commons can register too (``int8``: fused and dynamic-quantized,
``fp32``), so engine mode's self-check and client mode agree with the engine. Only numpy, onnxruntime
and tokenizers are needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.text_encoder import (  # noqa: F401  (re-exported: the encoder's API)
    ML_COMMONS_MAX_LENGTH,
    POOLING_MODES,
    REEXPORT,
    PooledEncoder,
    pool,
)
from mr_opensearch.core.token_batches import TokenBatch


class OnnxEncoder(PooledEncoder):
    """Sentence embeddings from an exported ONNX token-embedding model (``pooling`` then L2 if ``normalize``).
    ``threads``: onnxruntime's intra-op threads; ``spinning=False`` lets idle intra-op threads sleep
    instead of spinning (leaves the CPU to a busy neighbour)."""

    variant = "onnx"

    def __init__(self, onnx_path: Path, tokenizer_json: Path, pooling: str = "mean", normalize: bool = True,
                 threads: int | None = None, spinning: bool = True) -> None:
        import onnxruntime as ort

        if not Path(onnx_path).is_file():
            raise MrosError(f"ONNX model {onnx_path} not found", REEXPORT)
        super().__init__(tokenizer_json, pooling, normalize)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise MrosError(f"{onnx_path} is not a valid ONNX model ({exc.__class__.__name__}: {str(exc)[:200]}); "
                            "re-export with `mros export`", REEXPORT) from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def static_dimension(self) -> int | None:
        size = self.session.get_outputs()[0].shape[-1]
        return size if isinstance(size, int) else None

    def token_embeddings(self, batch: TokenBatch) -> np.ndarray:
        return self.session.run(None, batch.feeds(self.input_names))[0]
