"""The ``openvino-int8`` client variant run by OpenVINO, pooled as ML Commons pools
(:mod:`mr_opensearch.core.text_encoder`).

The variant is an OpenVINO IR (``model.xml`` + ``model.bin``) quantized statically to int8 by NNCF,
calibrated on catalog titles (``trainer/export.py``). On a 2-core AVX-512 VNNI CPU it embeds titles 1.6x
faster per token than the dynamic-quantized ONNX package onnxruntime runs, with a higher cosine to fp32
(docs/benchmarks.md, encoder peers). It needs the optional ``openvino`` extra: client mode serves it
only where OpenVINO is installed; engine mode never does (ML Commons registers the ONNX package).

One compiled model serves every thread that calls :meth:`OpenVinoEncoder.encode`: it runs ``streams``
inference streams of ``threads`` threads each, and each calling thread has its own infer request, so
the deploy's encode workers run their batches at the same time (OpenVINO releases the GIL).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.text_encoder import REEXPORT, PooledEncoder
from mr_opensearch.core.token_batches import TokenBatch

INSTALL_HINT = "install the OpenVINO runtime: pip install 'mros[openvino]'"


def openvino_available() -> bool:
    """Whether the OpenVINO runtime can be imported here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoEncoder(PooledEncoder):
    """Sentence embeddings from an OpenVINO IR token-embedding model on the CPU."""

    variant = "openvino-int8"

    def __init__(self, xml_path: Path, tokenizer_json: Path, pooling: str = "mean", normalize: bool = True,
                 threads: int | None = None, streams: int = 1, spinning: bool = True) -> None:
        if not openvino_available():
            raise MrosError(f"{xml_path} is an OpenVINO model and OpenVINO is not installed", INSTALL_HINT)
        import openvino as ov

        xml_path = Path(xml_path)
        for path in (xml_path, xml_path.with_suffix(".bin")):
            if not path.is_file():
                raise MrosError(f"OpenVINO model file {path} not found", REEXPORT)
        super().__init__(tokenizer_json, pooling, normalize)
        streams = max(1, int(streams))
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
                                  "NUM_STREAMS": str(streams)}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads) * streams
        if not spinning:  # only a hint: OpenVINO's CPU plugin decides its own threads' waiting
            config["ENABLE_CPU_PINNING"] = False
        try:
            self.compiled = ov.Core().compile_model(str(xml_path), "CPU", config)
        except Exception as exc:
            raise MrosError(f"{xml_path} is not a valid OpenVINO model ({exc.__class__.__name__}: "
                            f"{str(exc)[:200]})", REEXPORT) from None
        self.input_names = [next(iter(port.get_names())) for port in self.compiled.inputs]
        self._local = threading.local()
        self._warm_up(xml_path)

    def _warm_up(self, xml_path: Path) -> None:
        """One inference on the loading thread, before any other thread can call :meth:`encode`.

        The first inference of a process initialises pybind11's numpy bridge inside OpenVINO's Python
        module (a ``std::call_once`` that takes the GIL inside a function-local static's guard). Several
        threads making their first call at once can deadlock there for good: one holds the guard and waits
        for the GIL, another holds the GIL and waits for the guard (measured: 3 of 20 fresh processes hung
        with 8 threads encoding at once; ``mros serve`` hung under traffic). After one call the bridge is
        initialised and the threads never meet there again."""
        try:
            self.encode(["warm up"])
        except Exception as exc:
            raise MrosError(f"{xml_path} loads but does not run ({exc.__class__.__name__}: {str(exc)[:200]})",
                            REEXPORT) from None

    def static_dimension(self) -> int | None:
        shape = self.compiled.outputs[0].get_partial_shape()
        last = shape[shape.rank.get_length() - 1]
        return int(last.get_length()) if last.is_static else None

    def token_embeddings(self, batch: TokenBatch) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request.infer(batch.feeds(self.input_names), share_inputs=True, share_outputs=True)[0]
