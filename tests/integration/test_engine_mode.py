"""Engine mode on a cluster with ML Commons and neural-search: the run's package registered once and
deployed (``ensure_model`` twice gives one model for the hash), a ``text_embedding`` ingest pipeline,
and documents indexed through it carry the vectors the same model computes locally; a whole engine
deploy of two runs behind one alias (3.1+: a ``semantic`` field, queries without a model id, each index
answering with its own model; 3.0: ``knn_vector`` and the model id), its self-check passed.

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


ALIAS = "mros-test-engine-semantic"


def test_engine_deploy_of_two_models_behind_one_alias(opensearch_client: Any, require_plugins: Callable[..., None],
                                                      serving_runs: Any, tmp_path: Any) -> None:
    """Two engine deploys (two models) to one alias: each passes the self-check, the layout follows the
    cluster's version, and after the alias moves the same query body is answered with the new model."""
    require_plugins("opensearch-ml", "opensearch-neural-search", "opensearch-knn")
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.deploy.deploy import DeployOptions, deploy
    from mr_opensearch.deploy.preflight import parse_version
    from mr_opensearch.search.queries import search
    from mr_opensearch.search.served_model import load_run, open_encoder

    client = opensearch_client
    ml_commons_support.ensure_local_model_settings(client)
    semantic = parse_version(client.info()["version"]["number"]) >= (3, 1, 0)
    catalog = read_catalog(serving_runs.catalog)
    for name in list(client.indices.get(index=f"{ALIAS}-*")):
        client.indices.delete(index=name)
    outcomes, models = [], []
    try:
        for run in serving_runs.runs:
            outcome = deploy(client, load_run(run), catalog, DeployOptions(alias=ALIAS, embedding="engine"),
                             log=lambda _: None)
            outcomes.append(outcome)
            models.append(outcome.model_id)
            manifest = outcome.manifest or {}
            assert manifest["vector_layout"] == ("semantic" if semantic else "knn_vector")
            properties = client.indices.get_mapping(index=outcome.index)[outcome.index]["mappings"]["properties"]
            if semantic:
                assert properties["embedding_text"]["type"] == "semantic"
                assert properties["embedding_text"]["model_id"] == outcome.model_id
                assert "embedding_text_semantic_info" in properties
            else:
                assert properties["embedding"]["type"] == "knn_vector"
        query = catalog.titles[0]
        result = search(client, ALIAS, query, mode="dense", k=5)
        assert result.index == outcomes[1].index
        clause = next(iter(result.requests[0]["body"]["query"]["neural"].values()))
        assert ("model_id" in clause) == (not semantic)
        encoder = open_encoder(load_run(serving_runs.runs[1]))
        q = encoder.encode([query])[0]
        titles = dict(zip(catalog.ids, catalog.titles, strict=True))
        for hit in result.hits:  # scored by the second model, the one of the index the alias names
            v = encoder.encode([titles[hit.product_id]])[0]
            assert hit.score == pytest.approx((1 + float(q @ v)) / 2, abs=2e-3)
    finally:
        for name in list(client.indices.get(index=f"{ALIAS}-*")):
            client.indices.delete(index=name)
        for outcome in outcomes:  # a pipeline naming a model keeps ML Commons from deleting it (409)
            client.ingest.delete_pipeline(id=f"{outcome.index}-ingest", ignore=[404])
            client.transport.perform_request("DELETE", f"/_search/pipeline/{outcome.index}-hybrid", params={"ignore": 404})
        for model_id in models:
            if model_id:
                ml_commons_support.delete_model(client, model_id)


INCREMENTAL_ALIAS = "mros-test-engine-incremental"


def test_engine_incremental_deploy_and_in_place(opensearch_client: Any, require_plugins: Callable[..., None],
                                                serving_runs: Any, tmp_path: Any) -> None:
    """Engine mode's daily update on a cluster with the plugins (issue #31): the new index is a clone of the
    live one and only the 10 edited and 5 new products are embedded (by the ingest pipeline before 3.1, by the
    ``semantic`` field's processor from 3.1); ``--in-place`` then reaches the first catalog again (``knn_vector``
    layout), or is refused (``semantic`` layout)."""
    require_plugins("opensearch-ml", "opensearch-neural-search", "opensearch-knn")
    from mr_opensearch.core.catalog import ServingCatalog, read_catalog
    from mr_opensearch.core.errors import MrosError
    from mr_opensearch.deploy.deploy import DeployOptions, deploy
    from mr_opensearch.deploy.in_place import update_in_place
    from mr_opensearch.deploy.preflight import parse_version
    from mr_opensearch.search.served_model import load_run

    client = opensearch_client
    ml_commons_support.ensure_local_model_settings(client)
    semantic = parse_version(client.info()["version"]["number"]) >= (3, 1, 0)
    base = read_catalog(serving_runs.catalog)
    titles = [f"{t} (new edition)" if 10 <= i < 20 else t for i, t in enumerate(base.titles)][5:]
    edited = ServingCatalog(ids=[*base.ids[5:], *(f"new-{i}" for i in range(5))],
                            titles=[*titles, *(f"brand new product number {i}" for i in range(5))])
    model = load_run(serving_runs.runs[0])
    options = DeployOptions(alias=INCREMENTAL_ALIAS, embedding="engine", allow_shrink=True)
    for name in list(client.indices.get(index=f"{INCREMENTAL_ALIAS}-*")):
        client.indices.delete(index=name)
    outcomes = []
    try:
        outcomes.append(deploy(client, model, base, options, log=lambda _: None))
        lines: list[str] = []
        outcomes.append(deploy(client, model, edited, options, log=lines.append))
        second = outcomes[-1]
        assert second.incremental_from == outcomes[0].index and second.embedded == 15 and second.removed == 5, lines
        meta = client.indices.get_mapping(index=second.index)[second.index]["mappings"]["_meta"]
        assert meta["cloned_from"] == outcomes[0].index
        client.indices.refresh(index=second.index)
        assert client.count(index=second.index)["count"] == len(edited.ids)
        if semantic:
            with pytest.raises(MrosError, match="--in-place refused"):
                update_in_place(client, model, base, options, log=lambda _: None)
            return
        back = update_in_place(client, model, base, options, log=lambda _: None)  # the live index back to v1
        assert back.in_place and back.embedded == 15 and back.removed == 5
        client.indices.refresh(index=second.index)
        assert client.count(index=second.index)["count"] == len(base.ids)
    finally:
        for name in list(client.indices.get(index=f"{INCREMENTAL_ALIAS}-*")):
            client.indices.delete(index=name)
        for outcome in outcomes:
            client.ingest.delete_pipeline(id=f"{outcome.index}-ingest", ignore=[404])
            client.transport.perform_request("DELETE", f"/_search/pipeline/{outcome.index}-hybrid", params={"ignore": 404})
        for model_id in {o.model_id for o in outcomes if o.model_id}:
            ml_commons_support.delete_model(client, model_id)
