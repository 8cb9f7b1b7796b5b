"""A local ONNX model in ML Commons: chunked register with its SHA-256, deploy offline, predict.

The node has no network (CI and this machine reach only package registries), so a successful
deploy shows that everything DJL needs (libtorch, JNI, tokenizers, ONNX Runtime) was installed
into the node by ``mros opensearch up``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mr_opensearch.core.hashing import file_sha256
from mr_opensearch.deploy import ml_commons
from tests.tools import ml_commons_support

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_export_fits_ml_commons(tiny_model: Any) -> None:
    export = tiny_model.export
    assert export.parity["ir_version"] <= 9 and export.parity["opset"] <= 19
    assert export.model_config["framework_type"] == "sentence_transformers"
    assert export.model_config["pooling_mode"] == "MEAN" and export.model_config["normalize_result"] is True
    assert export.sha256 == file_sha256(export.zip_path)


def test_registered_model_is_deployed(opensearch_client: Any, deployed_model: str, tiny_model: Any) -> None:
    model = ml_commons.get_model(opensearch_client, deployed_model)
    assert model["model_state"] == "DEPLOYED"
    assert model["model_format"] == "ONNX"
    assert model["model_content_hash_value"] == tiny_model.export.sha256
    assert model["total_chunks"] >= 2  # the zip went up in several chunks


def test_predict_matches_local_onnxruntime(
    opensearch_client: Any, deployed_model: str, tiny_model: Any, corpus: dict[str, str]
) -> None:
    texts = [*corpus.values(), "a query nobody indexed", "Übergrößen-Leiter für Dachböden"]
    remote = np.array(ml_commons_support.embed(opensearch_client, deployed_model, texts), dtype=np.float32)
    local = tiny_model.embed(texts)
    assert remote.shape == local.shape == (len(texts), tiny_model.export.model_config["embedding_dimension"])
    remote /= np.linalg.norm(remote, axis=1, keepdims=True)
    cosines = (remote * local).sum(axis=1)
    assert cosines.min() > 0.999, cosines
