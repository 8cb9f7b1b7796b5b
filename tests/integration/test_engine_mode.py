"""Engine mode on a cluster with ML Commons and neural-search: the run's package registered once and
deployed (``ensure_model`` twice gives one model for the hash), a ``text_embedding`` ingest pipeline,
and documents indexed through it carry the vectors the same model computes locally.

Skipped, with the reason, where the node lacks the plugins (the local node here: Maven does not serve
them); ``MROS_REQUIRE_PLUGINS=1`` turns the skip into a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from mr_opensearch.deploy import ml_commons
from mr_opensearch.deploy.ingest_pipeline import (
    get_ingest_pipeline,
    ingest_pipeline_body,
    put_ingest_pipeline,
)
from mr_opensearch.deploy.write_plan import WritePlan
from tests.tools import ml_commons_support

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "mros-test-engine-mode"
PIPELINE = "mros-test-engine-ingest"
DOCS = {"e1": "cordless drill with two lithium batteries", "e2": "double bowl stainless kitchen sink"}


@pytest.fixture(scope="module")
def engine_model(opensearch_client: Any, require_plugins: Callable[..., None], tiny_model: Any) -> Iterator[str]:
    require_plugins("opensearch-ml", "opensearch-neural-search", "opensearch-knn")
    ml_commons_support.ensure_local_model_settings(opensearch_client)
    package = tiny_model.export.zip_path.parent
    before = ml_commons_support.find_model_by_hash(opensearch_client, tiny_model.export.sha256)
    model_id = ml_commons.ensure_model(opensearch_client, package, name="mros-engine-mode-test",
                                       registration=ml_commons.Registration(chunk_bytes=256 * 1024),
                                       deploy_timeout=600)
    yield model_id
    if before is None:  # only remove what this module registered (another fixture may share the hash)
        ml_commons_support.delete_model(opensearch_client, model_id)


def test_ensure_model_twice_registers_once(opensearch_client: Any, engine_model: str, tiny_model: Any) -> None:
    package = tiny_model.export.zip_path.parent
    plan = WritePlan()
    again = ml_commons.ensure_model(opensearch_client, package, name="mros-engine-mode-test", plan=plan)
    assert again == engine_model
    assert plan.entries == []  # nothing registered, nothing deployed the second time
    same_hash = ml_commons.models_with_hash(opensearch_client, tiny_model.export.sha256)
    assert [m["model_id"] for m in same_hash] == [engine_model]
    assert ml_commons.get_model(opensearch_client, engine_model)["model_state"] == "DEPLOYED"


def test_ingest_pipeline_fills_the_vectors(opensearch_client: Any, engine_model: str, tiny_model: Any) -> None:
    client = opensearch_client
    dim = int(tiny_model.export.model_config["embedding_dimension"])
    body = ingest_pipeline_body(engine_model, description="mros engine-mode test")
    put_ingest_pipeline(client, PIPELINE, body)
    assert get_ingest_pipeline(client, PIPELINE) == body
    client.indices.delete(index=INDEX, ignore=[404])
    try:
        client.indices.create(index=INDEX, body={
            "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0,
                                   "default_pipeline": PIPELINE}},
            "mappings": {"properties": {
                "embedding_text": {"type": "text"},
                "embedding": {"type": "knn_vector", "dimension": dim,
                              "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}},
            }},
        })
        for doc_id, text in DOCS.items():
            client.index(index=INDEX, id=doc_id, body={"embedding_text": text}, refresh="wait_for")
        local = tiny_model.embed(list(DOCS.values()))
        for row, doc_id in enumerate(DOCS):
            stored = np.array(client.get(index=INDEX, id=doc_id)["_source"]["embedding"], dtype=np.float32)
            assert stored.shape == (dim,)
            assert float(stored @ local[row] / np.linalg.norm(stored)) > 0.999
    finally:
        client.indices.delete(index=INDEX, ignore=[404])
        client.ingest.delete_pipeline(id=PIPELINE, ignore=[404])
