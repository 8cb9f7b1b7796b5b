"""ML Commons calls only the tests make: setting up a node for local models, registering and deploying a
model outside a deploy, predicting with it, and removing it afterwards.

``mros deploy`` needs none of them (:mod:`mr_opensearch.deploy.ml_commons` holds what it sends); they are
here so the integration tests can prepare and clean up a cluster, and ``tests/unit/test_ml_commons_requests.py``
checks their request shapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy.ml_commons import (
    DEFAULT_CHUNK_BYTES,
    ENGINE_PLUGINS,
    ML,
    best_usable,
    call,
    models_with_hash,
    predict_vectors,
    register_model_chunked,
)


def has_engine_plugins(client: Any) -> tuple[bool, str]:
    """Whether the cluster runs ML Commons and neural-search (``GET _cat/plugins`` components
    ``opensearch-ml`` and ``opensearch-neural-search``, as the plugins name themselves), and why not.

    (The deploy decides this in :func:`mr_opensearch.deploy.preflight.run_preflight`, with its own words.)"""
    from mr_opensearch.cluster.connection import plugins

    installed = plugins(client)
    missing = [f"{label} ({name})" for name, label in ENGINE_PLUGINS.items() if name not in installed]
    if missing:
        return False, f"the cluster lacks {' and '.join(missing)}"
    return True, "the cluster has ML Commons (opensearch-ml) and neural-search (opensearch-neural-search)"


def local_model_settings_body(*, via_url: bool = False, native_memory_threshold: int | None = None) -> dict:
    """``PUT _cluster/settings`` body that lets a cluster without ``ml`` nodes run a local model (§4.1).

    ``only_run_on_ml_node: false`` (a single node has no ``ml`` role) and
    ``allow_registering_model_via_local_file: true`` (both ``_register_meta`` and ``upload_chunk``
    check it); ``allow_registering_model_via_url: true`` only for the ``url`` form;
    ``native_memory_threshold`` only when given (100 disables the breaker; the docs call that testing).
    """
    persistent: dict[str, Any] = {
        "plugins.ml_commons.only_run_on_ml_node": False,
        "plugins.ml_commons.allow_registering_model_via_local_file": True,
    }
    if via_url:
        persistent["plugins.ml_commons.allow_registering_model_via_url"] = True
    if native_memory_threshold is not None:
        if not 0 <= native_memory_threshold <= 100:
            raise MrosError(f"native_memory_threshold {native_memory_threshold} is outside 0..100")
        persistent["plugins.ml_commons.native_memory_threshold"] = native_memory_threshold
    return {"persistent": persistent}


def ensure_local_model_settings(
    client: Any, *, via_url: bool = False, native_memory_threshold: int | None = None
) -> dict:
    """Apply :func:`local_model_settings_body` persistently (cluster-wide settings: the test node only)."""
    body = local_model_settings_body(via_url=via_url, native_memory_threshold=native_memory_threshold)
    client.cluster.put_settings(body=body)
    return body


def find_model_by_hash(client: Any, sha256: str) -> dict[str, Any] | None:
    """``{"model_id", "model_state", "name", "version"}`` of a usable model with this content hash,
    DEPLOYED preferred, or None (what :func:`mr_opensearch.deploy.ml_commons.find_model` reuses)."""
    return best_usable(models_with_hash(client, sha256))


def register_model(
    client: Any,
    zip_path: Path,
    *,
    name: str,
    version: str = "1.0.0",
    model_config: dict[str, Any],
    sha256: str | None = None,
    description: str | None = None,
    model_group_id: str | None = None,
    model_format: str = "ONNX",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> str:
    """Register ``zip_path`` (model file + tokenizer.json) by chunked upload; return the model id.

    Delegates to :func:`mr_opensearch.deploy.ml_commons.register_model_chunked` (no hash lookup: a second
    call registers a second model)."""
    if model_format != "ONNX":
        raise MrosError(f"model_format {model_format!r}: mros packages ONNX models only")
    register_body: dict[str, Any] = {"name": name, "version": version, "model_config": model_config}
    if sha256:
        register_body["model_content_hash_value"] = sha256
    if description:
        register_body["description"] = description
    return register_model_chunked(client, zip_path, register_body=register_body, model_group_id=model_group_id,
                                  chunk_bytes=chunk_bytes)


def embed(client: Any, model_id: str, texts: Sequence[str]) -> list[list[float]]:
    """Sentence embeddings from a deployed text-embedding model, one vector per text (the deploy's own
    predict request, :func:`mr_opensearch.deploy.ml_commons.predict_vectors`)."""
    return predict_vectors(client, model_id, list(texts))


def undeploy_model(client: Any, model_id: str) -> None:
    call(client, "POST", f"{ML}/models/{model_id}/_undeploy")


def delete_model(client: Any, model_id: str) -> None:
    """Undeploy (if deployed) and delete a model."""
    with contextlib.suppress(MrosError):  # best effort: the DELETE below is what must succeed
        undeploy_model(client, model_id)
    call(client, "DELETE", f"{ML}/models/{model_id}")
