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

**Queries, one at a time.** The compiled model takes any batch and length, and pays for it on every
inference: at batch 1 and 8 tokens, 3.0 ms, against 1.6 ms for a model compiled for exactly that shape
(one runtime thread; ``benchmarks/encoder_peers.py`` and docs/benchmarks.md). A long-lived searcher
therefore calls :meth:`OpenVinoEncoder.compile_static_shapes`: on a thread of its own, one model per
padded length of a single query (8, 16, 24 and 32 tokens: 99.6% of the shared test queries take 8 or 16)
is compiled, and from then on a batch of one text whose padded length has one runs on it. The padded
tokens are masked, so the vector is the dynamic model's (cosine 0.9999998 on the test queries).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.text_encoder import REEXPORT, PooledEncoder
from mr_opensearch.core.token_batches import TokenBatch

INSTALL_HINT = "install the OpenVINO runtime: pip install 'mros[openvino]'"
STATIC_QUERY_LENGTHS = (8, 16, 24, 32)
"""Padded token counts a single query gets a model of its own for (the query encoder pads to a multiple of 8)."""

log = logging.getLogger("mros.openvino")


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
        self.xml_path, self._config = xml_path, config
        self._static: dict[int, Any] = {}
        self._static_lock = threading.Lock()
        self._static_thread: threading.Thread | None = None
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

    def compile_static_shapes(self, lengths: tuple[int, ...] = STATIC_QUERY_LENGTHS) -> threading.Thread:
        """Compile one model per length in ``lengths`` for batches of one text, on a new thread (returned,
        already started; the process waits for it at exit rather than stop OpenVINO mid-compile). Until a
        length's model is ready, such a batch runs on the dynamic model; a failure is logged and leaves
        the dynamic model in use. About 0.8 s of one core per length, a few MB each. Called again, it
        returns the first call's thread."""
        with self._static_lock:
            if self._static_thread is not None:
                return self._static_thread
            thread = self._static_thread = threading.Thread(target=self._compile_static, args=(tuple(lengths),),
                                                            name="mros-openvino-static-shapes")
            thread.start()
            return thread

    def _compile_static(self, lengths: tuple[int, ...]) -> None:
        import openvino as ov

        try:
            core = ov.Core()
            model = core.read_model(str(self.xml_path))
            for length in lengths:
                shaped = model.clone()
                shaped.reshape({port.get_any_name(): ov.PartialShape([1, int(length)]) for port in shaped.inputs})
                self._static[int(length)] = core.compile_model(shaped, "CPU", self._config)
        except Exception as exc:  # the dynamic model answers every shape: a static one is only faster
            log.warning("%s: no static-shape query model (%s: %s); queries use the dynamic one",
                        self.xml_path, type(exc).__name__, str(exc)[:200])

    @property
    def static_lengths(self) -> tuple[int, ...]:
        """The lengths a batch of one text has a compiled model of its own for, so far."""
        return tuple(sorted(self._static))

    def token_embeddings(self, batch: TokenBatch) -> np.ndarray:
        rows, length = batch.input_ids.shape
        compiled = self._static.get(length) if rows == 1 else None
        key = length if compiled is not None else 0
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(key)
        if request is None:
            request = requests[key] = (compiled or self.compiled).create_infer_request()
        return request.infer(batch.feeds(self.input_names), share_inputs=True, share_outputs=True)[0]
