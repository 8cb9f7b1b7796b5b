"""The vectors file of ``mros embed`` / ``mros deploy --vectors`` (mr_opensearch.search.vectors_file): a round
trip keeps ids, text hashes and float32 vectors exactly; every bad file is refused with what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.vectors_file import (
    ModelStamp,
    VectorsWriter,
    check_ids,
    check_model,
    read_vectors,
    text_sha256,
)

STAMP = ModelStamp(model_sha256="a" * 64, onnx_sha256="b" * 64, dimension=4)


def _write(path: Path, ids: list[str], vectors: np.ndarray, texts: list[str] | None = None) -> Path:
    with VectorsWriter(path, STAMP) as out:
        out.write(ids, texts or [f"text {i}" for i in ids], vectors)
    return path


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def test_a_round_trip_keeps_every_value(tmp_path):
    vectors = _vectors(5)
    path = tmp_path / "v.parquet"
    with VectorsWriter(path, STAMP) as out:  # two batches, as an embedding job writes them
        out.write(["1", "2"], ["a", "b"], vectors[:2])
        out.write(["3", "4", "5"], ["c", "d", "e"], vectors[2:])
    got = read_vectors(path)
    assert got.stamp == STAMP and got.ids == ["1", "2", "3", "4", "5"]
    assert got.text_hashes == [text_sha256(t) for t in "abcde"]
    assert got.vectors.dtype == np.float32 and np.array_equal(got.vectors, vectors)
    assert np.array_equal(got.vector_for("3", "c"), vectors[2])
    assert got.vector_for("3", "c (edited)") is None and got.vector_for("9", "c") is None  # stale text, unknown id
    check_model(got, "a" * 64, "b" * 64, 4)
    check_ids(got, ["1", "2", "3", "4", "5", "6"])  # a product without a vector is embedded on the spot


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "v.parquet"
    with pytest.raises(MrosError, match="do not match"), VectorsWriter(path, STAMP) as out:
        out.write(["1", "2"], ["a", "b"], _vectors(3))
    assert not path.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("model", "onnx", "dimension", "message"), [
    ("c" * 64, "b" * 64, 4, "embedded by model aaaaaaaaaaaa"),
    ("a" * 64, "c" * 64, 4, "embedded by model"),
    ("a" * 64, "b" * 64, 8, "holds 4-d vectors, the run's model makes 8-d"),
], ids=["another-model", "another-onnx", "another-dimension"])
def test_another_model_or_dimension_is_refused(tmp_path, model, onnx, dimension, message):
    got = read_vectors(_write(tmp_path / "v.parquet", ["1"], _vectors(1)))
    with pytest.raises(MrosError, match=message) as caught:
        check_model(got, model, onnx, dimension)
    assert "mros embed --run RUN" in caught.value.hint


def test_stray_ids_are_refused(tmp_path):
    got = read_vectors(_write(tmp_path / "v.parquet", ["1", "2", "x"], _vectors(3)))
    with pytest.raises(MrosError, match=r"1 product ids the catalog does not \(e.g. x"):
        check_ids(got, ["1", "2"])


@pytest.mark.parametrize(("ids", "mutate", "message"), [
    (["1", "2", "1"], None, "1 product ids appear more than once .e.g. 1"),
    (["1", "2", "3"], lambda v: v.__setitem__((1, 2), np.nan), "1 vectors hold NaN or infinity .e.g. product 2"),
    (["1", "2", "3"], lambda v: v.__setitem__((0, 0), np.inf), "NaN or infinity .e.g. product 1"),
    (["1", "2", "3"], lambda v: v.__setitem__(2, 0.0), "1 vectors are all zeros .e.g. product 3"),
], ids=["duplicate-ids", "nan", "infinity", "zero-vector"])
def test_bad_rows_are_refused(tmp_path, ids, mutate, message):
    vectors = _vectors(len(ids))
    if mutate is not None:
        mutate(vectors)
    path = _write(tmp_path / "v.parquet", ids, vectors)
    with pytest.raises(MrosError, match=message):
        read_vectors(path)


def test_a_truncated_file_is_refused(tmp_path):
    path = _write(tmp_path / "v.parquet", [str(i) for i in range(50)], _vectors(50))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MrosError, match="cannot be read as a Parquet vectors file") as caught:
        read_vectors(path)
    assert "mros embed" in caught.value.hint


def test_a_file_without_the_model_stamp_or_a_column_is_refused(tmp_path):
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"product_id": ["1"], "text_sha256": ["x"],
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array([1.0, 0, 0, 0], pa.float32()), 4)}),
                   plain)
    with pytest.raises(MrosError, match="does not record which model made its vectors"):
        read_vectors(plain)
    no_vector = tmp_path / "no-vector.parquet"
    pq.write_table(pa.table({"product_id": ["1"]}), no_vector)
    with pytest.raises(MrosError, match="has no column text_sha256, vector"):
        read_vectors(no_vector)
    with pytest.raises(MrosError, match="no such vectors file"):
        read_vectors(tmp_path / "absent.parquet")
