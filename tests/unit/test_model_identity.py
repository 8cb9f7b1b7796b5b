"""The model that embeds for an index is the model the index was built with (issue #30, item 2): every
place that embeds checks the SHA-256 of the file it actually loads."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import lookup_graph, word_tokenizer

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.manifest import Manifest
from mr_opensearch.search.queries import QueryEmbedder
from mr_opensearch.search.served_model import check_package, load_run, store_served_copy

WORDS = ["[UNK]", "cordless", "drill", "sink", "mros", "model", "check"]


def exported_run(root: Path, seed: int = 0) -> Path:
    """A run's onnx/ folder as `mros export` writes it: int8/ files, the ML Commons zip holding the same
    files, and ml-commons.json recording the zip's hash."""
    onnx_dir = root / "onnx"
    (onnx_dir / "int8").mkdir(parents=True)
    lookup_graph(onnx_dir / "int8" / "model.onnx", np.random.default_rng(seed).normal(size=(len(WORDS), 4)).astype(np.float32))
    word_tokenizer(onnx_dir / "int8" / "tokenizer.json", WORDS)
    with zipfile.ZipFile(onnx_dir / "ml-commons.zip", "w") as package:
        package.write(onnx_dir / "int8" / "model.onnx", "model.onnx")
        package.write(onnx_dir / "int8" / "tokenizer.json", "tokenizer.json")
    sha = hashlib.sha256((onnx_dir / "ml-commons.zip").read_bytes()).hexdigest()
    (onnx_dir / "ml-commons.json").write_text(json.dumps({
        "name": "tiny", "model_format": "ONNX", "model_content_hash_value": sha, "variant": "int8",
        "model_config": {"model_type": "bert", "embedding_dimension": 4, "framework_type": "sentence_transformers",
                         "pooling_mode": "MEAN", "normalize_result": True}}))
    return root


def manifest_of(run: Path, **extra) -> Manifest:
    model = load_run(run)
    values = dict(index="shop-abc", alias="shop", model_sha256=model.sha256, onnx_sha256=model.onnx_sha256,
                  catalog_sha256="1" * 64, embedding="client", dimension=4, documents=2)
    values.update(extra)
    return Manifest(**values)


def test_a_run_whose_model_was_replaced_after_export_is_refused(tmp_path):
    run = exported_run(tmp_path / "run")
    other = exported_run(tmp_path / "other", seed=1)
    (run / "onnx" / "int8" / "model.onnx").write_bytes((other / "onnx" / "int8" / "model.onnx").read_bytes())
    with pytest.raises(MrosError, match=r"is not the model\.onnx of .*ml-commons\.zip.*replaced after export") as err:
        check_package(load_run(run))
    assert "mros export --run" in err.value.hint


def test_a_package_changed_after_export_is_refused(tmp_path):
    run = exported_run(tmp_path / "run")
    with zipfile.ZipFile(run / "onnx" / "ml-commons.zip", "a") as package:
        package.writestr("extra.txt", "changed")
    with pytest.raises(MrosError, match=r"ml-commons\.json records .*the package changed after export"):
        check_package(load_run(run))


def test_query_embedding_with_another_model_of_the_same_dimension_is_refused(tmp_path):
    run = exported_run(tmp_path / "run")
    other = exported_run(tmp_path / "other", seed=1)
    manifest = manifest_of(run)
    assert QueryEmbedder(manifest, run=run).encode(["cordless drill"]).shape == (1, 4)
    with pytest.raises(MrosError, match="is not the model index shop-abc was built with") as err:
        QueryEmbedder(manifest, run=other).encode(["cordless drill"])
    assert "leave out --model/--run" in err.value.hint


def test_an_index_deployed_before_the_onnx_hash_was_recorded_is_checked_by_package_hash(tmp_path):
    run = exported_run(tmp_path / "run")
    other = exported_run(tmp_path / "other", seed=1)
    legacy = manifest_of(run, onnx_sha256=None)
    assert QueryEmbedder(legacy, run=run).encode(["drill"]).shape == (1, 4)
    with pytest.raises(MrosError, match=r"\(package [0-9a-f]{12}…\) is not the model index shop-abc was built with"):
        QueryEmbedder(legacy, run=other).encode(["drill"])


def test_a_stale_served_copy_is_replaced_by_the_verified_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MROS_HOME", str(tmp_path / "home"))
    model = load_run(exported_run(tmp_path / "run"))
    target = store_served_copy(model)
    (target / "model.onnx").write_bytes(b"not the model")
    assert store_served_copy(model) == target
    assert hashlib.sha256((target / "model.onnx").read_bytes()).hexdigest() == model.onnx_sha256
    assert json.loads((target / "ml-commons.json").read_text())["onnx_sha256"] == model.onnx_sha256
    served = manifest_of(tmp_path / "run", model_dir=str(target))
    assert QueryEmbedder(served).encode(["sink"]).shape == (1, 4)


def test_a_served_copy_named_by_another_machine_is_found_under_this_machines_home(tmp_path, monkeypatch):
    """A manifest holds the deploying machine's folder; where that does not exist here, this machine's
    copy of the same model (``$MROS_HOME/models/<sha>``) embeds the queries."""
    monkeypatch.setenv("MROS_HOME", str(tmp_path / "home"))
    run = exported_run(tmp_path / "run")
    target = store_served_copy(load_run(run))
    elsewhere = manifest_of(run, model_dir="/srv/deploy-host/.mros/models/" + load_run(run).sha256)
    assert QueryEmbedder(elsewhere).model_dir == target
    assert QueryEmbedder(elsewhere).encode(["drill"]).shape == (1, 4)
