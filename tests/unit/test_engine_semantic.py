"""Engine mode on OpenSearch 3.1+: the embedded text mapped as neural-search's ``semantic`` field, queries that
name no model, and the engine self-check, request by request against the scripted cluster
(``tests/unit/scripted_cluster.py``: it answers as ML Commons and neural-search document; see
``../shared/reference/opensearch-3.x-live-service.md`` §1 and §6).

What is checked, against the plugins' documented API:

* 3.1+: the registration carries ``model_config.additional_config.space_type``; the index maps
  ``embedding_text`` as ``{"type": "semantic", "model_id", "raw_field_type": "text"}`` with a lucene HNSW
  ``dense_embedding_config`` (3.2+; none on 3.1), no ``knn_vector`` field and no ingest pipeline; the
  manifest records ``vector_layout: semantic``;
* queries on such an index send ``neural`` on the semantic field without ``model_id`` (dense and the
  hybrid's dense leg), so after an alias move the index's own model embeds the query; a 3.0 cluster keeps
  ``knn_vector``, the ingest pipeline and ``model_id`` in queries;
* the self-check: the documented predict request with catalog probe texts after the model is deployed,
  and a model whose vectors disagree (cosine < 0.99) refused before anything is indexed; after the first
  bulk request the stored vectors are read back, and a mismatch stops the deploy (index deleted) before
  the alias moves; ``--embedding client`` then works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripted_cluster import (
    CATALOG,
    ML,
    engine_cluster,
    engine_deploy,
    make_engine_run,
    run_encoder,
    run_sha,
    scripted_client,
)

from mr_opensearch.cli._errors import named_for_the_cli
from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy import engine_check, kill_points, ml_commons
from mr_opensearch.search.fusion import HybridSettings
from mr_opensearch.search.manifest import Boundaries, Manifest
from mr_opensearch.search.queries import engine_dense_body, hybrid_body_engine, search

SEMANTIC_PATH = "embedding_text_semantic_info.embedding"


@pytest.fixture
def engine_run(tmp_path: Path) -> Path:
    return make_engine_run(tmp_path / "run")


def _body(call: dict[str, Any]) -> Any:
    return json.loads(call["body"]) if isinstance(call["body"], (str, bytes)) else call["body"]


def _created(cluster: Any, index: str) -> dict[str, Any]:
    return _body(cluster.calls_to("PUT", f"/{index}")[0])


def _writes_to(cluster: Any, index: str) -> list[dict[str, Any]]:
    return [c for c in cluster.calls if c["method"] in ("PUT", "POST", "DELETE")
            and (c["path"] == f"/{index}" or c["path"].startswith(f"/{index}/") or c["path"] == "/_bulk")
            and not c["path"].endswith(("/_mget", "/_search"))]


# ------------------------------------------------------------------------------------- the semantic layout


def test_on_3_5_the_embedded_text_is_a_semantic_field_naming_the_model_and_no_ingest_pipeline(engine_run: Path):
    cluster, outcome = engine_deploy(engine_run, version="3.5.0")
    name = outcome.index
    meta = _body(cluster.calls_to("POST", f"{ML}/models/_register_meta")[0])
    assert meta["model_config"]["additional_config"] == {"space_type": "cosinesimil"}  # 3.1+ only

    body = _created(cluster, name)
    properties = body["mappings"]["properties"]
    assert properties["embedding_text"] == {
        "type": "semantic", "model_id": "model-1", "raw_field_type": "text",
        "dense_embedding_config": {"method": {"name": "hnsw", "engine": "lucene",
                                              "parameters": {"m": 16, "ef_construction": 128}}}}
    assert "embedding" not in properties  # the vectors live at embedding_text_semantic_info.embedding
    assert set(properties) == {"product_id", "title", "embedding_text"}
    settings = body["settings"]["index"]
    assert "default_pipeline" not in settings and settings["knn"] is True  # a system processor embeds
    assert settings["search.default_pipeline"] == f"{name}-hybrid"
    assert cluster.calls_to("PUT", lambda p: p.startswith("/_ingest/pipeline/")) == []

    manifest = Manifest.model_validate(cluster.indices[name]["mappings"]["_meta"])
    assert manifest.complete and manifest.vector_layout == "semantic" and manifest.model_id == "model-1"
    assert manifest.ingest_pipeline is None and manifest.vector_path == SEMANTIC_PATH
    assert cluster.aliases == {"shop": name}
    stored = cluster.docs[name]["p1"]["embedding_text_semantic_info"]
    assert len(stored["embedding"]) == 8 and stored["model"]["id"] == "model-1"


def test_on_3_1_the_semantic_field_has_only_the_parameters_3_1_has(engine_run: Path):
    cluster, outcome = engine_deploy(engine_run, version="3.1.0")
    field = _created(cluster, outcome.index)["mappings"]["properties"]["embedding_text"]
    assert field == {"type": "semantic", "model_id": "model-1", "raw_field_type": "text"}
    assert any("dense_embedding_config" in w and "3.2" in w for w in outcome.warnings)
    assert "additional_config" in _body(cluster.calls_to("POST", f"{ML}/models/_register_meta")[0])["model_config"]


def test_a_model_registered_before_without_a_space_type_keeps_the_knn_vector_layout(engine_run: Path):
    cluster = engine_cluster(engine_run)
    config = json.loads((engine_run / "onnx" / "ml-commons.json").read_text())["model_config"]
    old = cluster.add_model(run_sha(engine_run), config)  # registered by an earlier mros: no additional_config
    _, outcome = engine_deploy(engine_run, cluster)
    assert outcome.model_id == old and cluster.calls_to("POST", f"{ML}/models/_register_meta") == []
    body = _created(cluster, outcome.index)
    assert body["mappings"]["properties"]["embedding"]["type"] == "knn_vector"
    assert body["settings"]["index"]["default_pipeline"] == f"{outcome.index}-ingest"
    assert body["mappings"]["_meta"]["vector_layout"] == "knn_vector"
    assert any("additional_config.space_type" in w for w in outcome.warnings)


def test_on_3_0_the_layout_is_knn_vector_with_an_ingest_pipeline(engine_run: Path):
    cluster, outcome = engine_deploy(engine_run, version="3.0.3")
    body = _created(cluster, outcome.index)
    assert body["mappings"]["properties"]["embedding"]["method"]["engine"] == "lucene"
    assert body["settings"]["index"]["default_pipeline"] == f"{outcome.index}-ingest"
    assert cluster.indices[outcome.index]["mappings"]["_meta"]["vector_layout"] == "knn_vector"
    assert len(cluster.docs[outcome.index]["p1"]["embedding"]) == 8  # the scripted pipeline embedded it


def test_an_old_manifest_without_vector_layout_reads_as_knn_vector():
    meta = {"created_by": "mros", "index": "shop-a", "alias": "shop", "model_sha256": "0" * 64,
            "catalog_sha256": "1" * 64, "embedding": "engine", "model_id": "m-1", "dimension": 8, "documents": 3}
    manifest = Manifest.from_meta(meta, "shop-a")
    assert manifest is not None and manifest.vector_layout == "knn_vector"
    assert manifest.neural_field == manifest.vector_path == "embedding"


# ----------------------------------------------------------------------------------------------- queries


def _manifest(layout: str, model_id: str | None = "m-1") -> Manifest:
    return Manifest(index="shop-abc", alias="shop", model_sha256="0" * 64, catalog_sha256="1" * 64,
                    embedding="engine", model_id=model_id, dimension=8, documents=3, vector_layout=layout,
                    boundaries=Boundaries.from_cosines(0.2, 0.6), search_pipeline="shop-abc-hybrid")


def test_query_bodies_on_a_semantic_index_name_the_semantic_field_and_no_model():
    semantic = _manifest("semantic")
    assert engine_dense_body(semantic, "sink", 5, 5)["query"] == {
        "neural": {"embedding_text": {"query_text": "sink", "k": 5}}}
    assert engine_dense_body(semantic, "sink", 5, 5, min_score=0.8)["query"] == {
        "neural": {"embedding_text": {"query_text": "sink", "min_score": 0.8}}}
    hybrid = hybrid_body_engine("sink", semantic, HybridSettings(pagination_depth=50, lower_bound_mode="none"), 10)["query"]["hybrid"]
    assert hybrid["queries"][1] == {"neural": {"embedding_text": {"query_text": "sink", "k": 50}}}
    # a semantic index needs no model id at all to be queried
    assert "model_id" not in json.dumps(engine_dense_body(_manifest("semantic", model_id=None), "sink", 5, 5))


def test_query_bodies_on_a_knn_vector_index_carry_the_model_id():
    knn = _manifest("knn_vector")
    assert engine_dense_body(knn, "sink", 5, 5)["query"] == {
        "neural": {"embedding": {"query_text": "sink", "model_id": "m-1", "k": 5}}}
    hybrid = hybrid_body_engine("sink", knn, HybridSettings(pagination_depth=50, lower_bound_mode="none"), 10)["query"]["hybrid"]
    assert hybrid["queries"][1] == {"neural": {"embedding": {"query_text": "sink", "model_id": "m-1", "k": 50}}}
    with pytest.raises(MrosError, match="records no model id"):
        engine_dense_body(_manifest("knn_vector", model_id=None), "sink", 5, 5)


@pytest.mark.parametrize(("version", "field", "model_id"), [("3.5.0", "embedding_text", None),
                                                            ("3.0.3", "embedding", "model-1")])
def test_search_of_a_deployed_index_sends_model_id_only_on_the_knn_vector_layout(engine_run: Path, version: str,
                                                                                field: str, model_id: str | None):
    cluster, outcome = engine_deploy(engine_run, version=version)
    client = scripted_client(cluster)
    dense = search(client, "shop", "cordless drill", mode="dense", k=3)
    request = dense.requests[0]
    assert request["path"] == f"/{outcome.index}/_search"
    clause = request["body"]["query"]["neural"][field]
    assert clause.get("model_id") == model_id and clause["query_text"] == "cordless drill"
    assert dense.ids()[0] == "p1"  # the scripted neural-search embedded the query with the index's model

    hybrid = search(client, "shop", "cordless drill", mode="hybrid", k=3)
    request = hybrid.requests[0]
    assert request["params"] == {"search_pipeline": f"{outcome.index}-hybrid"}
    leg = request["body"]["query"]["hybrid"]["queries"][1]["neural"][field]
    assert leg.get("model_id") == model_id


def test_after_an_alias_move_to_an_index_of_another_model_the_same_query_uses_that_model(tmp_path: Path):
    first, second = make_engine_run(tmp_path / "a", seed=0), make_engine_run(tmp_path / "b", seed=1)
    cluster = engine_cluster(first)
    cluster.embedders[run_sha(second)] = run_encoder(second)
    _, old = engine_deploy(first, cluster)
    client = scripted_client(cluster)
    before = search(client, "shop", "garden hose", mode="dense", k=3)
    _, new = engine_deploy(second, cluster)
    assert new.model_id == "model-2" and cluster.aliases == {"shop": new.index} and new.previous_index == old.index
    after = search(client, "shop", "garden hose", mode="dense", k=3)
    # the request is the same (no model id); neural-search answers with the model of the index the alias names
    assert before.requests[0]["body"] == after.requests[0]["body"]
    assert before.index == old.index and after.index == new.index
    query = run_encoder(second)(["garden hose"])[0]
    docs = run_encoder(second)(list(CATALOG.titles))
    expected = {pid: (1 + float(v @ query)) / 2 for pid, v in zip(CATALOG.ids, docs, strict=True)}
    assert {h.product_id: h.score for h in after.hits} == pytest.approx(expected, abs=1e-5)


# ------------------------------------------------------------------------------------------- self-check


def test_probe_texts_are_the_first_the_longest_and_the_shortest():
    assert engine_check.probe_texts(["b b", "a very long title", "c", "dd", ""]) == ["b b", "a very long title", "c"]
    assert engine_check.probe_texts(["same", "same"]) == ["same"]
    assert engine_check.probe_texts(CATALOG.titles) == ["cordless drill", "garden hose", "kitchen sink"]
    assert engine_check.probe_texts([]) == []


def test_register_body_carries_the_space_type_only_when_asked():
    register = {"name": "m", "model_config": {"model_type": "bert", "embedding_dimension": 8,
                                              "framework_type": "sentence_transformers"}}
    plain = ml_commons.register_meta_body(register, sha256="a", size=1, total_chunks=1, model_group_id=None)
    assert "additional_config" not in plain["model_config"]
    spaced = ml_commons.register_meta_body(register, sha256="a", size=1, total_chunks=1, model_group_id=None,
                                           space_type="innerproduct")
    assert spaced["model_config"]["additional_config"] == {"space_type": "innerproduct"}
    assert "additional_config" not in register["model_config"]  # the run's ml-commons.json is left as it is


@pytest.mark.parametrize(("version", "path"), [("3.5.0", SEMANTIC_PATH), ("3.0.3", "embedding")])
def test_self_check_predicts_probe_texts_and_reads_back_the_first_bulk_requests_vectors(engine_run: Path,
                                                                                       version: str, path: str):
    cluster, outcome = engine_deploy(engine_run, version=version, batch_size=2)
    predict = cluster.calls_to("POST", f"{ML}/_predict/text_embedding/model-1")
    assert len(predict) == 1
    assert _body(predict[0]) == {"text_docs": ["cordless drill", "garden hose", "kitchen sink"],
                                 "return_number": True, "target_response": ["sentence_embedding"]}
    deployed = max(i for i, c in enumerate(cluster.calls) if c["path"].startswith(f"{ML}/tasks/"))
    first_write = min(i for i, c in enumerate(cluster.calls) if c in _writes_to(cluster, outcome.index))
    assert deployed < cluster.calls.index(predict[0]) < first_write

    bulks = [i for i, c in enumerate(cluster.calls) if c["path"] == "/_bulk"]
    mget = [i for i, c in enumerate(cluster.calls) if c["path"] == f"/{outcome.index}/_mget"]
    assert len(bulks) == 2 and len(mget) == 1 and bulks[0] < mget[0] < bulks[1]  # between the 1st and 2nd request
    call = cluster.calls[mget[0]]
    assert call["params"] == {"_source_includes": path}
    first_ids = [json.loads(line)["index"]["_id"] for line in cluster.calls[bulks[0]]["body"].splitlines()[::2]]
    assert _body(call) == {"ids": first_ids} and len(first_ids) == 2
    assert cluster.aliases == {"shop": outcome.index}


def test_a_model_whose_vectors_disagree_is_refused_before_anything_is_indexed(engine_run: Path):
    cluster = engine_cluster(engine_run, pooling="CLS")  # ML Commons pools otherwise than the run says
    with pytest.raises(MrosError) as info:
        engine_deploy(engine_run, cluster)
    error = info.value
    assert isinstance(error, engine_check.EngineMismatch)
    assert "predict" in error.message and "cosine" in error.message and "at least 0.99" in error.message
    assert "pooling_mode MEAN" in error.message and "normalize_result true" in error.message
    assert "ml-commons.json" in error.message
    assert "--embedding client" in str(named_for_the_cli(error).hint)

    assert cluster.calls_to("POST", f"{ML}/_predict/text_embedding/model-1")  # it was asked, and disagreed
    assert set(cluster.indices) <= {".mros-locks"}  # no index created
    assert cluster.calls_to("POST", "/_bulk") == []
    assert cluster.calls_to("PUT", lambda p: p.startswith(("/_ingest/pipeline/", "/_search/pipeline/"))) == []
    assert cluster.calls_to("POST", "/_aliases") == [] and cluster.aliases == {}
    assert cluster.docs.get(".mros-locks", {}) == {}  # the lock was released

    # what the hint says works: mros embeds with the ONNX model itself
    _, outcome = engine_deploy(engine_run, cluster, embedding="client")
    assert outcome.embedding == "client" and cluster.aliases == {"shop": outcome.index}


@pytest.mark.parametrize("version", ["3.5.0", "3.0.3"])
def test_a_stored_vector_mismatch_after_the_first_bulk_request_stops_before_the_alias_moves(engine_run: Path,
                                                                                          version: str):
    wrong = run_encoder(engine_run, pooling="CLS")  # predict agrees; the ingest side does not
    cluster = engine_cluster(engine_run, version=version, ingest_embed=wrong)
    with pytest.raises(engine_check.EngineMismatch) as info:
        engine_deploy(engine_run, cluster, batch_size=1)
    name = next(c["path"].strip("/") for c in cluster.calls
                if c["method"] == "PUT" and c["path"].startswith("/shop-") and c["path"].count("/") == 1)
    message = info.value.message
    assert "stored vectors" in message and "document p" in message and f"{name} was deleted" in message
    assert "the alias did not move" in message
    assert len(cluster.calls_to("POST", "/_bulk")) == 1  # stopped after the first bulk request of three
    assert cluster.calls_to("DELETE", f"/{name}") and name not in cluster.indices
    assert cluster.calls_to("PUT", f"/{name}/_mapping") == []  # never marked complete
    assert cluster.calls_to("POST", "/_aliases") == [] and cluster.aliases == {}

    _, outcome = engine_deploy(engine_run, cluster, embedding="client")
    assert outcome.action == "created" and cluster.aliases == {"shop": outcome.index}


def test_engine_vectors_of_another_dimension_are_refused(engine_run: Path):
    cluster = engine_cluster(engine_run)
    cluster.embedders[run_sha(engine_run)] = lambda texts: np.ones((len(texts), 4))
    with pytest.raises(engine_check.EngineMismatch, match="4 dimensions, the ONNX model makes 8-d"):
        engine_deploy(engine_run, cluster)
    assert cluster.calls_to("POST", "/_bulk") == []


class _Crash(Exception):
    pass


def test_a_resumed_engine_index_is_checked_and_not_finished_in_client_mode(engine_run: Path,
                                                                            monkeypatch: pytest.MonkeyPatch):
    def crash(phase: str) -> None:
        if phase == "bulk-done":
            raise _Crash(phase)

    cluster = engine_cluster(engine_run)
    with monkeypatch.context() as patch:
        patch.setattr(kill_points, "reached", crash)
        with pytest.raises(_Crash):
            engine_deploy(engine_run, cluster)
    (name,) = [n for n in cluster.indices if n.startswith("shop-")]
    assert cluster.indices[name]["mappings"]["_meta"]["complete"] is False

    with pytest.raises(MrosError, match="begun by a deploy in engine mode") as info:
        engine_deploy(engine_run, cluster, embedding="client")
    assert f"DELETE /{name}" in str(info.value.hint)

    before = len(cluster.calls)
    _, outcome = engine_deploy(engine_run, cluster)
    assert outcome.action == "resumed"
    mget = [c for c in cluster.calls[before:] if c["path"] == f"/{name}/_mget"]
    assert len(mget) == 1 and _body(mget[0]) == {"ids": ["p1", "p2", "p3"]}  # the documents already in, checked
    assert cluster.aliases == {"shop": name}


def test_dry_run_plans_the_self_check_without_sending_it(engine_run: Path):
    cluster, outcome = engine_deploy(engine_run, dry_run=True)
    assert cluster.calls_to("POST", lambda p: "/_predict/" in p or p.endswith("/_mget")) == []
    planned = {(e["method"], e["path"]): e for e in outcome.plan}
    predict = planned[("POST", f"{ML}/_predict/text_embedding/<model_id>")]
    assert predict["body"]["text_docs"] == ["cordless drill", "garden hose", "kitchen sink"]
    assert "self-check" in predict["summary"]
    assert "self-check" in planned[("POST", f"/{outcome.index}/_mget")]["summary"]
