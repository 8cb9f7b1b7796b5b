"""The served model's encoder as a public object: embed texts exactly as ``mros deploy`` and ``mros search`` do,
in any process or engine (a Ray actor, a Spark task, a notebook), and know which model made the vectors.

    from mr_opensearch import Embedder
    embedder = Embedder("runs/my-run")
    vectors = embedder.embed(["cordless drill 18v", "pvc pipe 3/4"])   # float32, (2, dimension), L2-normalised
    embedder.model_sha256                                               # what `mros deploy --vectors` checks

The vectors are those of the run's ONNX export with its pooling and normalisation (the files the manifest
names): the same numbers an in-process deploy writes, batch for batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mr_opensearch.search.served_model import ServedModel, client_variant, for_client, load_run, open_encoder
from mr_opensearch.search.vectors_file import ModelStamp


class Embedder:
    """Embeds texts with a trained run's served model (see the module docstring).

    Args:
        run: the run directory of ``mros train`` / ``mros run`` (holds ``onnx/``).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice, all cores); give each of several
            encoders in one machine ``threads=1``.
        batch_size: texts per forward pass.
    """

    def __init__(self, run: Path | str, *, threads: int | None = None, batch_size: int = 64) -> None:
        loaded = load_run(Path(run))
        self.model: ServedModel = for_client(loaded, client_variant(loaded)[0])  # as a client-mode deploy
        self.batch_size = batch_size
        self._encoder = open_encoder(self.model, threads=threads, spinning=False)

    @property
    def model_sha256(self) -> str:
        """The SHA-256 of the model package (``ml-commons.json``'s content hash): an index's ``model_sha256``."""
        return self.model.sha256

    @property
    def onnx_sha256(self) -> str:
        """The SHA-256 of the ONNX file that embeds."""
        return self.model.onnx_sha256

    @property
    def variant(self) -> str:
        """The encoder variant (``openvino-int8``, ``int8``, ``fp32``): the one a client-mode deploy of the run uses."""
        return self.model.variant

    @property
    def dimension(self) -> int:
        return self.model.dimension

    @property
    def stamp(self) -> ModelStamp:
        """What a vectors file records of the model (:class:`~mr_opensearch.search.vectors_file.VectorsWriter`)."""
        return ModelStamp(model_sha256=self.model_sha256, onnx_sha256=self.onnx_sha256, dimension=self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``texts`` embedded: a float32 array of shape ``(len(texts), dimension)``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._encoder.encode(list(texts), self.batch_size), dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)
