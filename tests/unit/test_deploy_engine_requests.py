"""Engine mode's deploy, request by request: what ``mros deploy --embedding engine`` sends to a cluster
that has ML Commons and neural-search.

Those plugins are not served to this machine, so the cluster here is a scripted one
(``tests/unit/scripted_cluster.py``): a real ``opensearchpy.OpenSearch`` client whose transport records
every request and answers it as the plugins' documented API says (the *requests* are what is checked:
``_register_meta`` / ``upload_chunk`` / ``_deploy`` / tasks, the predict self-check, a ``text_embedding``
ingest pipeline as the index's ``default_pipeline`` on OpenSearch 3.0, and a ``normalization-processor``
search pipeline as its ``search.default_pipeline``). The ``semantic`` field layout of 3.1+ and the engine
self-check are ``tests/unit/test_engine_semantic.py``. The same deploy against real plugins is
``tests/integration/test_engine_mode.py``, skipped here with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_cluster import DIMENSION, ML, ScriptedCluster, engine_deploy, make_engine_run


@pytest.fixture
def engine_run(tmp_path: Path) -> Path:
    return make_engine_run(tmp_path / "run")


def _body(call: dict[str, Any]) -> Any:
    return json.loads(call["body"]) if isinstance(call["body"], str) else call["body"]


LOCK_INDEX = "/.mros-locks"


def _index_of(cluster: ScriptedCluster, method: str, suffix: str) -> int:
    return next(i for i, c in enumerate(cluster.calls) if c["method"] == method and c["path"].endswith(suffix))


def test_engine_deploy_holds_the_alias_lock_from_before_the_first_write_to_after_the_alias_move(engine_run: Path) -> None:
    cluster, _ = engine_deploy(engine_run)
    taken = next(i for i, c in enumerate(cluster.calls) if c["method"] == "PUT" and c["path"] == f"{LOCK_INDEX}/_doc/shop")
    released = next(i for i, c in enumerate(cluster.calls) if c["method"] == "DELETE"
                    and c["path"] == f"{LOCK_INDEX}/_doc/shop")
    writes = [i for i, c in enumerate(cluster.calls) if c["method"] in ("PUT", "DELETE", "POST")
              and not c["path"].startswith(LOCK_INDEX) and not c["path"].endswith("/_search")]
    assert taken < min(writes) and max(writes) < released
    assert cluster.calls[taken]["params"].get("op_type") in ("create", b"create")
    assert cluster.docs[".mros-locks"] == {}  # released


def test_auto_picks_engine_and_on_3_0_wires_both_pipelines_into_the_new_index(engine_run: Path) -> None:
    cluster, outcome = engine_deploy(engine_run, version="3.0.3")
    assert outcome.embedding == "engine" and "ML Commons and neural-search" in outcome.embedding_reason
    assert outcome.model_id == "model-1" and outcome.action == "created"
    name = outcome.index
    ingest, search = f"{name}-ingest", f"{name}-hybrid"
    body = _body(next(c for c in cluster.calls if c["method"] == "PUT" and c["path"] == f"/{name}"))
    assert body["settings"]["index"]["default_pipeline"] == ingest
    assert body["settings"]["index"]["search.default_pipeline"] == search
    assert body["mappings"]["properties"]["embedding"]["dimension"] == DIMENSION
    assert body["mappings"]["_meta"]["complete"] is False and body["mappings"]["_meta"]["model_id"] == "model-1"
    assert body["mappings"]["_meta"]["vector_layout"] == "knn_vector"
    assert body["mappings"]["properties"]["embedding_text"] == {"type": "text", "index": False}
    # 3.0's ML Commons has no additional_config: the registration is as it always was
    meta = _body(next(c for c in cluster.calls if c["path"] == f"{ML}/models/_register_meta"))
    assert "additional_config" not in meta["model_config"]

    put_ingest = next(c for c in cluster.calls if c["path"] == f"/_ingest/pipeline/{ingest}")
    assert put_ingest["method"] == "PUT"
    processor = _body(put_ingest)
    assert processor["processors"] == [{"text_embedding": {"model_id": "model-1",
                                                           "field_map": {"embedding_text": "embedding"}}}]
    put_search = next(c for c in cluster.calls if c["path"] == f"/_search/pipeline/{search}")
    normalization = put_search["body"]["phase_results_processors"][0]["normalization-processor"]
    bounds = normalization["normalization"]["parameters"]["lower_bounds"]
    weights = normalization["combination"]["parameters"]["weights"]
    assert len(bounds) == len(weights) == 2 and sum(weights) == pytest.approx(1.0)
    # the dense leg is bounded at the partial boundary in engine score, (1 + 0.3) / 2
    assert bounds[1] == {"mode": "apply", "min_score": pytest.approx(0.65)}

    # order: model deployed, the predict self-check, then the pipelines, then the index that names them,
    # documents, the completion mark, and the alias last
    deployed = _index_of(cluster, "POST", "/_deploy")
    predicted = _index_of(cluster, "POST", "/_predict/text_embedding/model-1")
    pipelines = max(_index_of(cluster, "PUT", ingest), _index_of(cluster, "PUT", search))
    created = next(i for i, c in enumerate(cluster.calls) if c["method"] == "PUT" and c["path"] == f"/{name}")
    bulk = _index_of(cluster, "POST", "/_bulk")
    marked = _index_of(cluster, "PUT", f"/{name}/_mapping")
    aliased = _index_of(cluster, "POST", "/_aliases")
    last_write = max(i for i, c in enumerate(cluster.calls) if c["method"] in ("PUT", "POST", "DELETE")
                     and not c["path"].startswith(LOCK_INDEX))
    assert deployed < predicted < pipelines < created < bulk < marked < aliased == last_write
    mark = cluster.calls[marked]["body"]["_meta"]
    assert mark["complete"] is True and mark["model_id"] == "model-1" and mark["embedding"] == "engine"
    assert cluster.calls[aliased]["body"] == {"actions": [{"add": {"index": name, "alias": "shop"}}]}


@pytest.mark.parametrize("version", ["3.0.3", "3.5.0"])
def test_engine_documents_carry_the_text_to_embed_and_no_vector(engine_run: Path, version: str) -> None:
    cluster, outcome = engine_deploy(engine_run, version=version)
    sent = cluster.sent[outcome.index]
    assert sorted(sent) == ["p1", "p2", "p3"]
    assert sent["p1"] == {"product_id": "p1", "title": "cordless drill", "embedding_text": "cordless drill"}
    assert outcome.written == 3


def test_model_is_uploaded_in_chunks_numbered_from_zero_before_it_is_deployed(engine_run: Path) -> None:
    cluster, _ = engine_deploy(engine_run)
    meta = next(c for c in cluster.calls if c["path"] == f"{ML}/models/_register_meta")["body"]
    # the 30,000-byte package of engine_run in chunks of at most 10,000,000 bytes: one chunk
    assert meta["model_group_id"] == "group-1" and meta["total_chunks"] == 1
    chunks = [c["path"].rsplit("/", 1)[1] for c in cluster.calls if "/upload_chunk/" in c["path"]]
    assert chunks == [str(i) for i in range(meta["total_chunks"])]
    polls = [c for c in cluster.calls if c["path"] == f"{ML}/tasks/task-1"]  # the task of model-1
    assert len(polls) == 2  # RUNNING, then COMPLETED


@pytest.mark.parametrize("version", ["3.0.3", "3.5.0"])
def test_engine_dry_run_sends_no_write_and_plans_every_one(engine_run: Path, version: str) -> None:
    cluster, outcome = engine_deploy(engine_run, dry_run=True, version=version)
    writes = [c for c in cluster.calls if c["method"] in ("PUT", "DELETE")
              or (c["method"] == "POST" and not c["path"].endswith("/_search"))]
    assert writes == []  # the self-check's predict and _mget are planned, not sent
    planned = [(e["method"], e["path"]) for e in outcome.plan]
    name = outcome.index
    for expected in [("POST", f"{ML}/models/_register_meta"), ("POST", f"{ML}/_predict/text_embedding/<model_id>"),
                     ("PUT", f"/_search/pipeline/{name}-hybrid"), ("PUT", f"/{name}"), ("POST", "/_bulk"),
                     ("POST", f"/{name}/_mget"), ("PUT", f"/{name}/_mapping"), ("POST", "/_aliases")]:
        assert expected in planned
    # an ingest pipeline only for the knn_vector layout of 3.0; 3.1+ maps a semantic field instead
    assert (("PUT", f"/_ingest/pipeline/{name}-ingest") in planned) == (version == "3.0.3")
    index_body = next(e["body"] for e in outcome.plan if e["method"] == "PUT" and e["path"] == f"/{name}")
    layout = index_body["mappings"]["_meta"]["vector_layout"]
    assert layout == ("knn_vector" if version == "3.0.3" else "semantic")


def test_engine_mode_without_the_plugins_is_refused_before_any_write(engine_run: Path) -> None:
    from mr_opensearch.cli._errors import named_for_the_cli
    from mr_opensearch.core.errors import MrosError

    with pytest.raises(MrosError, match="needs opensearch-ml") as info:
        engine_deploy(engine_run, plugins=["opensearch-knn"], embedding="engine")
    assert "`embedding` client" in str(info.value.hint)  # the library names its parameter, the CLI its option
    assert "--embedding client" in str(named_for_the_cli(info.value).hint)
