"""Precomputed catalog vectors in one Parquet file: written by ``mros embed`` (or :class:`VectorsWriter` in any
engine, e.g. Ray Data), read by ``mros deploy --vectors``.

Columns: ``product_id`` (string), ``text_sha256`` (the SHA-256 of the ``embedding_text`` the vector is of, UTF-8)
and ``vector`` (``fixed_size_list<float32>[dimension]``). The file's schema metadata records the model:
``mros.model_sha256``, ``mros.onnx_sha256``, ``mros.dimension``, ``mros.format`` (``1``).

:func:`read_vectors` refuses, with what to do, a file that is not Parquet or is truncated, lacks a column or the
model metadata, repeats an id, or holds a NaN, infinite or zero vector; :func:`check_model` refuses another
model's vectors or another dimension. A deploy uses a vector only when its ``text_sha256`` is the hash of the
document's current ``embedding_text`` (a stale vector is embedded again on the spot, and counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import sha256_of_chunks
from mr_opensearch.core.optional_dependencies import missing_extra
from mr_opensearch.core.safe_write import atomic_write

FORMAT = "1"
META_PREFIX = "mros."
HINT = "write it again with `mros embed --run RUN --catalog FILE --out FILE`"


def text_sha256(text: str) -> str:
    """The hash a vectors file records for the text a vector is of."""
    return sha256_of_chunks([text.encode("utf-8")])


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError as exc:
        raise (missing_extra(exc) or exc) from None
    return pa, pq


@dataclass
class ModelStamp:
    """Which model made a file's vectors."""

    model_sha256: str
    onnx_sha256: str
    dimension: int


@dataclass
class VectorsFile:
    """A read and checked vectors file."""

    path: Path
    stamp: ModelStamp
    ids: list[str]
    text_hashes: list[str]
    vectors: np.ndarray
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._row = {pid: i for i, pid in enumerate(self.ids)}

    def vector_for(self, product_id: str, text: str) -> np.ndarray | None:
        """The file's vector of ``product_id`` when it is of ``text`` (None: absent, or of another text)."""
        row = self._row.get(product_id)
        if row is None or self.text_hashes[row] != text_sha256(text):
            return None
        return self.vectors[row]


class VectorsWriter:
    """Writes a vectors file batch by batch (atomically: the file appears when :meth:`close` succeeds).

    Use as a context manager: ``with VectorsWriter(path, stamp) as out: out.write(ids, texts, vectors)``."""

    def __init__(self, path: Path | str, stamp: ModelStamp) -> None:
        pa, pq = _pyarrow()
        self.path, self.stamp, self.rows = Path(path), stamp, 0
        metadata = {f"{META_PREFIX}model_sha256": stamp.model_sha256, f"{META_PREFIX}onnx_sha256": stamp.onnx_sha256,
                    f"{META_PREFIX}dimension": str(stamp.dimension), f"{META_PREFIX}format": FORMAT}
        self.schema = pa.schema([("product_id", pa.string()), ("text_sha256", pa.string()),
                                 ("vector", pa.list_(pa.float32(), stamp.dimension))], metadata=metadata)
        self._atomic = atomic_write(self.path)
        self._tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(str(self._tmp), self.schema)

    def write(self, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        """Append ``vectors`` (one row per id) of ``texts``."""
        pa, _ = _pyarrow()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.stamp.dimension) or len(texts) != len(ids):
            raise MrosError(f"{len(ids)} ids, {len(texts)} texts and vectors of shape {vectors.shape} do not match "
                            f"({self.stamp.dimension}-d expected)", "pass one text and one vector per id")
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        table = pa.table({"product_id": pa.array(list(ids), pa.string()),
                          "text_sha256": pa.array([text_sha256(t) for t in texts], pa.string()),
                          "vector": pa.FixedSizeListArray.from_arrays(flat, self.stamp.dimension)},
                         schema=self.schema)
        self._writer.write_table(table)
        self.rows += len(ids)

    def close(self) -> Path:
        self._writer.close()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._atomic.__exit__(MrosError, MrosError("aborted"), None)

    def __enter__(self) -> VectorsWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def read_vectors(path: Path | str) -> VectorsFile:
    """The vectors file at ``path``, checked (see the module docstring)."""
    pa, pq = _pyarrow()
    path = Path(path)
    if not path.is_file():
        raise MrosError(f"{path}: no such vectors file", HINT)
    try:
        table = pq.read_table(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise MrosError(f"{path} cannot be read as a Parquet vectors file ({str(exc)[:200]}); truncated?", HINT) from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    missing = [c for c in ("product_id", "text_sha256", "vector") if c not in table.column_names]
    if missing:
        raise MrosError(f"{path} has no column {', '.join(missing)} (found {', '.join(table.column_names)})", HINT)
    try:
        stamp = ModelStamp(model_sha256=meta[f"{META_PREFIX}model_sha256"], onnx_sha256=meta[f"{META_PREFIX}onnx_sha256"],
                           dimension=int(meta[f"{META_PREFIX}dimension"]))
    except (KeyError, ValueError):
        raise MrosError(f"{path} does not record which model made its vectors (no mros.model_sha256 / "
                        "mros.onnx_sha256 / mros.dimension in its metadata)", HINT) from None
    ids = table.column("product_id").to_pylist()
    hashes = table.column("text_sha256").to_pylist()
    column = table.column("vector").combine_chunks()
    width = getattr(column.type, "list_size", None)
    if width != stamp.dimension:
        raise MrosError(f"{path}: its vectors are {width}-d, its metadata says {stamp.dimension}-d", HINT)
    vectors = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(len(ids),
                                                                                                  stamp.dimension)
    _check_rows(path, ids, vectors)
    return VectorsFile(path=path, stamp=stamp, ids=ids, text_hashes=hashes, vectors=vectors)


def _check_rows(path: Path, ids: list[Any], vectors: np.ndarray) -> None:
    if any(pid is None or pid == "" for pid in ids):
        raise MrosError(f"{path}: {sum(1 for p in ids if not p)} rows have no product_id", HINT)
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = sorted({p for p in ids if p in seen or seen.add(p)})
        raise MrosError(f"{path}: {len(repeated)} product ids appear more than once (e.g. {', '.join(repeated[:3])})",
                        "keep one vector per product (deduplicate the input of the embedding job) and write it again")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise MrosError(f"{path}: {int(bad.sum())} vectors hold NaN or infinity (e.g. product {ids[int(np.argmax(bad))]})",
                        HINT)
    zero = np.linalg.norm(vectors, axis=1) == 0
    if zero.any():
        raise MrosError(f"{path}: {int(zero.sum())} vectors are all zeros (e.g. product {ids[int(np.argmax(zero))]}); "
                        "cosine similarity is undefined for them", HINT)


def check_model(vectors: VectorsFile, model_sha256: str, onnx_sha256: str, dimension: int) -> None:
    """Refuse another model's vectors, or another dimension."""
    stamp = vectors.stamp
    if stamp.dimension != dimension:
        raise MrosError(f"{vectors.path} holds {stamp.dimension}-d vectors, the run's model makes {dimension}-d",
                        "embed the catalog with this run: `mros embed --run RUN ...`")
    if stamp.model_sha256 != model_sha256 or stamp.onnx_sha256 != onnx_sha256:
        raise MrosError(f"{vectors.path} was embedded by model {stamp.model_sha256[:12]} (ONNX {stamp.onnx_sha256[:12]}), "
                        f"the run's is {model_sha256[:12]} (ONNX {onnx_sha256[:12]})",
                        "embed the catalog with this run: `mros embed --run RUN ...`, or deploy the run that made it")


def check_ids(vectors: VectorsFile, catalog_ids: Sequence[str]) -> None:
    """Refuse ids that the catalog does not have (a file of another catalog, or a stale one)."""
    known = set(catalog_ids)
    stray = [pid for pid in vectors.ids if pid not in known]
    if stray:
        raise MrosError(f"{vectors.path} has {len(stray)} product ids the catalog does not (e.g. "
                        f"{', '.join(map(str, stray[:3]))})",
                        "embed this catalog (`mros embed --catalog FILE`), or deploy the catalog the file was made for")
