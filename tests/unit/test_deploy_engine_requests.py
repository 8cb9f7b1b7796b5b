"""Engine mode's deploy, request by request: what ``mros deploy --embedding engine`` sends to a cluster
that has ML Commons and neural-search.

Those plugins are not served to this machine, so the cluster here is a scripted one: a real
``opensearchpy.OpenSearch`` client whose transport records every request and answers it from a script
written by hand (the answers are not OpenSearch's; the *requests* are what is checked, against the
plugins' documented API: ``_register_meta`` / ``upload_chunk`` / ``_deploy`` / tasks, a
``text_embedding`` ingest pipeline as the index's ``default_pipeline`` and a ``normalization-processor``
search pipeline as its ``search.default_pipeline``). The same deploy against real plugins is
``tests/integration/test_engine_mode.py``, skipped here with the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opensearchpy import OpenSearch, Transport
from opensearchpy.exceptions import NotFoundError
from tiny_onnx import lookup_graph, word_tokenizer

from mr_opensearch.core.catalog import ServingCatalog
from mr_opensearch.deploy.deploy import DeployOptions, deploy
from mr_opensearch.search.served_model import load_run

ML = "/_plugins/_ml"
DIMENSION = 8


class ScriptedCluster:
    """Answers by ``(method, path regex)``; unscripted requests fail the test. Keeps the indices it was
    asked to create, and their documents, so counts and existence follow the requests."""

    def __init__(self, plugins: list[str]) -> None:
        self.calls: list[dict[str, Any]] = []
        self.indices: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, dict]] = {}
        self.plugins = plugins
        self.task_polls = 0
        self.seq_no = 0

    def answer(self, method: str, path: str, params: dict, body: Any) -> Any:
        name = path.strip("/").split("/")[0]
        if "/_doc/" in path:  # the alias lock's document (mr_opensearch.deploy.alias_lock), kept like any document
            return self._document(method, name, path.rsplit("/", 1)[1], body)
        if method == "GET" and path == "/":
            return {"version": {"number": "3.5.0", "distribution": "opensearch"}}
        if path == "/_cat/plugins":
            return [{"name": "node-1", "component": p, "version": "3.5.0.0"} for p in self.plugins]
        if path == "/_cluster/health":
            return {"status": "green", "number_of_data_nodes": 1}
        if path == "/_cluster/settings":
            return {"persistent": {}, "transient": {}, "defaults": {}}
        if path == "/_nodes/stats/fs":  # plenty of disk: 10 of 100 GiB used
            return {"nodes": {"n1": {"name": "node-1", "fs": {"total": {"total_in_bytes": 100 << 30,
                                                                         "available_in_bytes": 90 << 30}}}}}
        if method == "GET" and path.endswith("/_settings/index.blocks.*"):
            return {}
        if method == "HEAD":
            if path.startswith("/_alias/"):
                return False
            return name in self.indices
        if path == f"{ML}/model_groups/_search" or path == f"{ML}/models/_search":
            return {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
        if path == f"{ML}/model_groups/_register":
            return {"model_group_id": "group-1", "status": "CREATED"}
        if path == f"{ML}/models/_register_meta":
            return {"model_id": "model-1", "status": "CREATED"}
        if re.fullmatch(f"{ML}/models/model-1/upload_chunk/\\d+", path):
            return {"status": "Uploaded"}
        if path == f"{ML}/models/model-1/_deploy":
            return {"task_id": "task-1", "task_type": "DEPLOY_MODEL", "status": "CREATED"}
        if path == f"{ML}/tasks/task-1":
            self.task_polls += 1
            return {"state": "RUNNING"} if self.task_polls == 1 else {"state": "COMPLETED", "model_id": "model-1"}
        if method == "GET" and path.startswith(f"{ML}/models/"):
            return {"model_state": "DEPLOYED"}
        if method == "PUT" and (path.startswith("/_ingest/pipeline/") or path.startswith("/_search/pipeline/")):
            return {"acknowledged": True}
        if method == "PUT" and path == f"/{name}" and name not in self.indices:
            self.indices[name] = body
            self.docs[name] = {}
            return {"acknowledged": True, "index": name}
        if method in ("POST", "PUT") and path == "/_bulk":
            return self._bulk(body)
        if path == f"/{name}/_refresh":
            return {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if path == f"/{name}/_count":
            return {"count": len(self.docs[name])}
        if method == "PUT" and path in (f"/{name}/_settings", f"/{name}/_mapping"):
            return {"acknowledged": True}
        if method == "GET" and path == f"/{name}/_mapping":
            if name not in self.indices:
                raise NotFoundError(404, "index_not_found_exception", {})
            return {name: {"mappings": self.indices[name]["mappings"]}}
        if method == "POST" and path == "/_aliases":
            return {"acknowledged": True}
        raise AssertionError(f"unscripted request {method} {path} {params}")

    def _document(self, method: str, index: str, doc_id: str, body: Any) -> dict:
        docs = self.docs[index]
        if method in ("PUT", "POST"):
            self.seq_no += 1
            docs[doc_id] = body
            return {"_id": doc_id, "result": "created", "_seq_no": self.seq_no, "_primary_term": 1}
        if doc_id not in docs:
            raise NotFoundError(404, "not_found", {})
        if method == "DELETE":
            del docs[doc_id]
            return {"_id": doc_id, "result": "deleted"}
        return {"_id": doc_id, "found": True, "_source": docs[doc_id], "_seq_no": self.seq_no, "_primary_term": 1}

    def _bulk(self, body: Any) -> dict:
        text = body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else "\n".join(body)
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        items = []
        for header, source in zip(lines[::2], lines[1::2], strict=True):
            action = header["index"]
            self.docs[action["_index"]][action["_id"]] = source
            items.append({"index": {"_index": action["_index"], "_id": action["_id"], "status": 201}})
        return {"took": 1, "errors": False, "items": items}


def scripted_client(cluster: ScriptedCluster) -> OpenSearch:
    class RecordingTransport(Transport):
        def perform_request(self, method: str, url: str, params: Any = None, body: Any = None,
                            timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
            cluster.calls.append({"method": method, "path": url, "params": dict(params or {}), "body": body})
            return cluster.answer(method, url, dict(params or {}), body)

    return OpenSearch(hosts=["http://scripted.invalid:9200"], transport_class=RecordingTransport)


@pytest.fixture
def engine_run(tmp_path: Path) -> Path:
    """A run directory as `mros train` writes it: the ML Commons zip holds the same model.onnx and
    tokenizer.json as onnx/int8/ (only uploaded here, never run by a cluster)."""
    run = tmp_path / "run"
    (run / "onnx" / "int8").mkdir(parents=True)
    register = {"name": "mros-test", "version": "1.0.0", "description": "mros test encoder",
                "function_name": "TEXT_EMBEDDING", "model_format": "ONNX",
                "model_content_hash_value": "", "model_content_size_in_bytes": 0,
                "model_config": {"model_type": "bert", "embedding_dimension": DIMENSION,
                                 "framework_type": "sentence_transformers", "pooling_mode": "MEAN",
                                 "normalize_result": True, "all_config": "{}"},
                "variant": "int8"}
    # the deploy checks the packaged model runs (a corrupt package is refused in either mode): a tiny lookup graph
    words = ["[UNK]", *sorted({w for title in CATALOG.titles for w in title.split()}), "mros", "model", "check"]
    lookup_graph(run / "onnx" / "int8" / "model.onnx",
                 np.random.default_rng(0).normal(size=(len(words), DIMENSION)).astype(np.float32))
    word_tokenizer(run / "onnx" / "int8" / "tokenizer.json", words)
    with zipfile.ZipFile(run / "onnx" / "ml-commons.zip", "w") as package:
        package.write(run / "onnx" / "int8" / "model.onnx", "model.onnx")
        package.write(run / "onnx" / "int8" / "tokenizer.json", "tokenizer.json")
    data = (run / "onnx" / "ml-commons.zip").read_bytes()
    register["model_content_hash_value"] = hashlib.sha256(data).hexdigest()
    register["model_content_size_in_bytes"] = len(data)
    (run / "onnx" / "ml-commons.json").write_text(json.dumps(register))
    (run / "boundaries.json").write_text(json.dumps({"partial": 0.3, "exact": 0.6}))
    return run


CATALOG = ServingCatalog(ids=["p1", "p2", "p3"], titles=["cordless drill", "kitchen sink", "garden hose"])


def engine_deploy(run: Path, plugins: list[str] | None = None, **options: Any) -> tuple[ScriptedCluster, Any]:
    cluster = ScriptedCluster(plugins or ["opensearch-knn", "opensearch-job-scheduler", "opensearch-ml",
                                          "opensearch-neural-search"])
    outcome = deploy(scripted_client(cluster), load_run(run), CATALOG,
                     DeployOptions(alias="shop", embedding=options.pop("embedding", "auto"), **options),
                     log=lambda _: None)
    return cluster, outcome


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


def test_auto_picks_engine_and_wires_both_pipelines_into_the_new_index(engine_run: Path) -> None:
    cluster, outcome = engine_deploy(engine_run)
    assert outcome.embedding == "engine" and "ML Commons and neural-search" in outcome.embedding_reason
    assert outcome.model_id == "model-1" and outcome.action == "created"
    name = outcome.index
    ingest, search = f"{name}-ingest", f"{name}-hybrid"
    body = cluster.indices[name]
    assert body["settings"]["index"]["default_pipeline"] == ingest
    assert body["settings"]["index"]["search.default_pipeline"] == search
    assert body["mappings"]["properties"]["embedding"]["dimension"] == DIMENSION
    assert body["mappings"]["_meta"]["complete"] is False and body["mappings"]["_meta"]["model_id"] == "model-1"

    put_ingest = next(c for c in cluster.calls if c["path"] == f"/_ingest/pipeline/{ingest}")
    assert put_ingest["method"] == "PUT"
    processor = json.loads(put_ingest["body"]) if isinstance(put_ingest["body"], str) else put_ingest["body"]
    assert processor["processors"] == [{"text_embedding": {"model_id": "model-1",
                                                           "field_map": {"embedding_text": "embedding"}}}]
    put_search = next(c for c in cluster.calls if c["path"] == f"/_search/pipeline/{search}")
    normalization = put_search["body"]["phase_results_processors"][0]["normalization-processor"]
    bounds = normalization["normalization"]["parameters"]["lower_bounds"]
    weights = normalization["combination"]["parameters"]["weights"]
    assert len(bounds) == len(weights) == 2 and sum(weights) == pytest.approx(1.0)
    # the dense leg is bounded at the partial boundary in engine score, (1 + 0.3) / 2
    assert bounds[1] == {"mode": "apply", "min_score": pytest.approx(0.65)}

    # order: model deployed, then the pipelines, then the index that names them, documents, the
    # completion mark, and the alias last
    deployed = _index_of(cluster, "POST", "/_deploy")
    pipelines = max(_index_of(cluster, "PUT", ingest), _index_of(cluster, "PUT", search))
    created = next(i for i, c in enumerate(cluster.calls) if c["method"] == "PUT" and c["path"] == f"/{name}")
    bulk = _index_of(cluster, "POST", "/_bulk")
    marked = _index_of(cluster, "PUT", f"/{name}/_mapping")
    aliased = _index_of(cluster, "POST", "/_aliases")
    last_write = max(i for i, c in enumerate(cluster.calls) if c["method"] in ("PUT", "POST", "DELETE")
                     and not c["path"].startswith(LOCK_INDEX))
    assert deployed < pipelines < created < bulk < marked < aliased == last_write
    mark = cluster.calls[marked]["body"]["_meta"]
    assert mark["complete"] is True and mark["model_id"] == "model-1" and mark["embedding"] == "engine"
    assert cluster.calls[aliased]["body"] == {"actions": [{"add": {"index": name, "alias": "shop"}}]}


def test_engine_documents_carry_the_text_to_embed_and_no_vector(engine_run: Path) -> None:
    cluster, outcome = engine_deploy(engine_run)
    docs = cluster.docs[outcome.index]
    assert sorted(docs) == ["p1", "p2", "p3"]
    assert docs["p1"] == {"product_id": "p1", "title": "cordless drill", "embedding_text": "cordless drill"}
    assert outcome.written == 3


def test_model_is_uploaded_in_chunks_numbered_from_zero_before_it_is_deployed(engine_run: Path) -> None:
    cluster, _ = engine_deploy(engine_run)
    meta = next(c for c in cluster.calls if c["path"] == f"{ML}/models/_register_meta")["body"]
    # the 30,000-byte package of engine_run in chunks of at most 10,000,000 bytes: one chunk
    assert meta["model_group_id"] == "group-1" and meta["total_chunks"] == 1
    chunks = [c["path"].rsplit("/", 1)[1] for c in cluster.calls if "/upload_chunk/" in c["path"]]
    assert chunks == [str(i) for i in range(meta["total_chunks"])]
    polls = [c for c in cluster.calls if c["path"] == f"{ML}/tasks/task-1"]
    assert len(polls) == 2  # RUNNING, then COMPLETED


def test_engine_dry_run_sends_no_write_and_plans_every_one(engine_run: Path) -> None:
    cluster, outcome = engine_deploy(engine_run, dry_run=True)
    writes = [c for c in cluster.calls if c["method"] in ("PUT", "DELETE")
              or (c["method"] == "POST" and not c["path"].endswith("/_search"))]
    assert writes == []
    planned = [(e["method"], e["path"]) for e in outcome.plan]
    name = outcome.index
    for expected in [("POST", f"{ML}/models/_register_meta"), ("PUT", f"/_ingest/pipeline/{name}-ingest"),
                     ("PUT", f"/_search/pipeline/{name}-hybrid"), ("PUT", f"/{name}"), ("POST", "/_bulk"),
                     ("PUT", f"/{name}/_mapping"), ("POST", "/_aliases")]:
        assert expected in planned


def test_engine_mode_without_the_plugins_is_refused_before_any_write(engine_run: Path) -> None:
    from mr_opensearch.cli._errors import named_for_the_cli
    from mr_opensearch.core.errors import MrosError

    with pytest.raises(MrosError, match="needs opensearch-ml") as info:
        engine_deploy(engine_run, plugins=["opensearch-knn"], embedding="engine")
    assert "`embedding` client" in str(info.value.hint)  # the library names its parameter, the CLI its option
    assert "--embedding client" in str(named_for_the_cli(info.value).hint)
