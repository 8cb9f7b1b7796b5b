"""A scripted OpenSearch cluster with ML Commons and neural-search, for request-level tests of engine mode.

The plugins are not served to this machine, so engine mode is checked against this stand-in: a real
``opensearchpy.OpenSearch`` client whose transport records every request and answers it from a script
written by hand after the plugins' documented API (``../shared/reference/opensearch-3.x-live-service.md``
§1 and §6, ``opensearch-3.5-serving.md`` §3, §4 and §6). The *requests* are what the tests check; the
answers follow the plugins as far as the tests need them:

* ``GET /`` reports ``version`` (``3.0.3``, ``3.1.0``, ``3.5.0``, ...);
* ML Commons: model groups, ``_register_meta`` (a new ``model-N`` per registration, its ``model_config``
  kept), chunks, ``_deploy`` tasks (RUNNING, then COMPLETED), ``GET`` a model (state and ``model_config``),
  ``models/_search`` by content hash, and ``_predict/text_embedding`` (one ``sentence_embedding`` tensor per
  text, computed by the model registered under that id: ``embedders`` by content hash);
* indexing: a ``text_embedding`` ingest pipeline named as the index's ``default_pipeline`` fills its
  target field; a ``semantic`` field is embedded by the system processor into
  ``<field>_semantic_info.embedding`` with the model its mapping names (refused, as the mapping
  transformer does, for a model without ``additional_config.space_type``); ``ingest_embed`` replaces the
  ingest-side model, to simulate an ingest that disagrees with predict;
* ``_mget`` with ``_source_includes``; aliases; ``_meta`` kept on ``PUT _mapping``; point-in-time reads
  (``search_after`` by the sort field); ``_reindex`` by ``product_id`` terms; bulk deletes and ``pipeline: _none``;
* ``_search`` with ``neural`` (top level or inside ``hybrid``): on a ``semantic`` field the model is the
  query's ``model_id``, else the mapping's; on a ``knn_vector`` field a ``model_id`` is required (400
  otherwise); hits scored ``(1 + cos) / 2``, each index with its own model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from opensearchpy import OpenSearch, Transport
from opensearchpy.exceptions import NotFoundError, RequestError
from tiny_onnx import lookup_graph, word_tokenizer

from mr_opensearch.core.catalog import ServingCatalog
from mr_opensearch.deploy.cloned_index import flat_settings
from mr_opensearch.deploy.deploy import DeployOptions, deploy
from mr_opensearch.search.served_model import load_run

ML = "/_plugins/_ml"
DIMENSION = 8
ENGINE_PLUGINS = ["opensearch-knn", "opensearch-job-scheduler", "opensearch-ml", "opensearch-neural-search"]
CATALOG = ServingCatalog(ids=["p1", "p2", "p3"], titles=["cordless drill", "kitchen sink", "garden hose"])
Embed = Callable[[list[str]], np.ndarray]


def _json(body: Any) -> Any:
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body) if isinstance(body, str) else body


class ScriptedCluster:
    """Answers by ``(method, path)``; unscripted requests fail the test. Keeps indices, documents, aliases and
    ML Commons models, so what a deploy reads back follows what it wrote."""

    def __init__(self, plugins: list[str] | None = None, version: str = "3.5.0",
                 embedders: dict[str, Embed] | None = None, ingest_embed: Embed | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.indices: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, dict]] = {}
        self.sent: dict[str, dict[str, dict]] = {}
        """Each index's documents as the bulk requests sent them (before any processor ran)."""
        self.pits: dict[str, str] = {}
        """Open points in time: id -> index."""
        self.aliases: dict[str, str] = {}
        self.plugins = ENGINE_PLUGINS if plugins is None else plugins
        self.version = version
        self.embedders = dict(embedders or {})
        self.ingest_embed = ingest_embed
        self.models: dict[str, dict[str, Any]] = {}
        self.task_polls: dict[str, int] = {}
        self.seq_no = 0

    # ------------------------------------------------------------------------------------------ helpers

    def calls_to(self, method: str, path: str | Callable[[str], bool]) -> list[dict[str, Any]]:
        match = path if callable(path) else (lambda p: p == path)
        return [c for c in self.calls if c["method"] == method and match(c["path"])]

    def add_model(self, sha256: str, model_config: dict[str, Any], state: str = "DEPLOYED") -> str:
        """A model registered before the test (e.g. by an older mros), found by its content hash."""
        model_id = f"model-{len(self.models) + 1}"
        self.models[model_id] = {"hash": sha256, "state": state, "model_config": model_config, "group": "group-1"}
        return model_id

    def embed(self, model_id: str, texts: list[str]) -> np.ndarray:
        model = self.models[model_id]
        return np.asarray(self.embedders[model["hash"]](texts), dtype=np.float64)

    def _semantic_fields(self, index: str) -> dict[str, dict[str, Any]]:
        properties = self.indices[index]["mappings"]["properties"]
        return {name: spec for name, spec in properties.items() if spec.get("type") == "semantic"}

    # ------------------------------------------------------------------------------------------ answers

    def answer(self, method: str, path: str, params: dict, body: Any) -> Any:
        name = path.strip("/").split("/")[0]
        if "/_doc/" in path:  # the alias lock's document (mr_opensearch.deploy.alias_lock), kept like any document
            return self._document(method, name, path.rsplit("/", 1)[1], body)
        if method == "GET" and path == "/":
            return {"version": {"number": self.version, "distribution": "opensearch"}}
        if path == "/_cat/plugins":
            return [{"name": "node-1", "component": p, "version": f"{self.version}.0"} for p in self.plugins]
        if path == "/_cluster/health":
            return {"status": "green", "number_of_data_nodes": 1}
        if path == "/_cluster/settings":
            return {"persistent": {}, "transient": {}, "defaults": {}}
        if path == "/_nodes/stats/fs":  # plenty of disk: 10 of 100 GiB used
            return {"nodes": {"n1": {"name": "node-1", "fs": {"total": {"total_in_bytes": 100 << 30,
                                                                         "available_in_bytes": 90 << 30}}}}}
        if method == "GET" and path.endswith("/_settings/index.blocks.*"):
            return {}
        if path.startswith("/_alias/"):
            alias = path.rsplit("/", 1)[1]
            if method == "HEAD":
                return alias in self.aliases
            if alias not in self.aliases:
                raise NotFoundError(404, "aliases_not_found_exception", {})
            return {self.aliases[alias]: {"aliases": {alias: {}}}}
        if method == "HEAD":
            return name in self.indices
        if path.startswith(ML):
            return self._ml(method, path, body if "/upload_chunk/" in path else _json(body))
        if method == "PUT" and (path.startswith("/_ingest/pipeline/") or path.startswith("/_search/pipeline/")):
            return {"acknowledged": True}
        if method == "PUT" and path == f"/{name}" and name not in self.indices:
            return self._create(name, _json(body))
        if method in ("POST", "PUT") and path == "/_bulk":
            return self._bulk(body)
        if method == "POST" and path == f"/{name}/_mget":
            return self._mget(name, _json(body), params)
        if method == "POST" and path == f"/{name}/_search/point_in_time":
            self.pits[f"pit-{len(self.pits) + 1}"] = name
            return {"pit_id": f"pit-{len(self.pits)}", "_shards": {"total": 1, "successful": 1, "failed": 0}}
        if method in ("GET", "POST") and path == "/_search" and "pit" in _json(body):
            return self._pit_search(_json(body))
        if method == "DELETE" and path == "/_search/point_in_time":
            return {"pits": [{"pit_id": p, "successful": True} for p in _json(body)["pit_id"]]}
        if method == "POST" and path == "/_reindex":
            return self._reindex(_json(body))
        if path == "/_search/scroll":  # helpers.scan: every hit came with the first page
            return {"_scroll_id": "scroll-1", "_shards": {"total": 1, "successful": 1, "skipped": 0},
                    "hits": {"hits": []}} if method != "DELETE" else {"succeeded": True}
        if method in ("GET", "POST") and path == f"/{name}/_search":
            return self._search(name, _json(body))
        if path == f"/{name}/_refresh":
            return {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if path == f"/{name}/_count":
            return {"count": len(self.docs[name])}
        if method == "PUT" and path == f"/{name}/_settings":
            settings = self.indices[name]["settings"]["index"]
            for key, value in flat_settings(_json(body)).items():
                key = key.removeprefix("index.")
                if value == "None":
                    settings.pop(key, None)
                else:
                    settings[key] = value
            return {"acknowledged": True}
        if method == "GET" and path == f"/{name}/_settings":
            return {name: {"settings": flat_settings({"index": self.indices[name]["settings"]["index"]})}}
        if method == "GET" and path == f"/{name}/_alias":
            return {name: {"aliases": {a: {} for a, index in self.aliases.items() if index == name}}}
        if method in ("POST", "PUT") and path.startswith(f"/{name}/_clone/"):
            return self._clone(name, path.rsplit("/", 1)[1], _json(body))
        if method == "PUT" and path == f"/{name}/_mapping":
            self.indices[name]["mappings"]["_meta"] = _json(body)["_meta"]
            return {"acknowledged": True}
        if method == "GET" and path == f"/{name}/_mapping":
            if name not in self.indices:
                raise NotFoundError(404, "index_not_found_exception", {})
            return {name: {"mappings": self.indices[name]["mappings"]}}
        if method == "DELETE" and path == f"/{name}":
            self.indices.pop(name, None)
            self.docs.pop(name, None)
            return {"acknowledged": True}
        if method == "POST" and path == "/_aliases":
            for action in _json(body)["actions"]:
                if "add" in action:
                    self.aliases[action["add"]["alias"]] = action["add"]["index"]
            return {"acknowledged": True}
        raise AssertionError(f"unscripted request {method} {path} {params}")

    def _ml(self, method: str, path: str, body: Any) -> Any:
        if path == f"{ML}/model_groups/_search":
            return {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}
        if path == f"{ML}/model_groups/_register":
            return {"model_group_id": "group-1", "status": "CREATED"}
        if path == f"{ML}/models/_search":
            sha = body["query"]["bool"]["filter"][0]["term"]["model_content_hash_value"]
            hits = [{"_id": model_id, "_source": {"model_content_hash_value": m["hash"], "model_state": m["state"],
                                                  "model_group_id": m["group"], "model_config": m["model_config"]}}
                    for model_id, m in self.models.items() if m["hash"] == sha]
            return {"hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits}}
        if path == f"{ML}/models/_register_meta":
            model_id = f"model-{len(self.models) + 1}"
            self.models[model_id] = {"hash": body["model_content_hash_value"], "state": "REGISTERING",
                                     "model_config": body["model_config"], "group": body.get("model_group_id")}
            return {"model_id": model_id, "status": "CREATED"}
        if match := re.fullmatch(f"{ML}/models/(model-\\d+)/upload_chunk/(\\d+)", path):
            self.models[match[1]]["state"] = "REGISTERED"
            return {"status": "Uploaded"}
        if match := re.fullmatch(f"{ML}/models/model-(\\d+)/_deploy", path):
            return {"task_id": f"task-{match[1]}", "task_type": "DEPLOY_MODEL", "status": "CREATED"}
        if match := re.fullmatch(f"{ML}/tasks/task-(\\d+)", path):
            model_id = f"model-{match[1]}"
            polls = self.task_polls[model_id] = self.task_polls.get(model_id, 0) + 1
            if polls == 1:
                return {"state": "RUNNING"}
            self.models[model_id]["state"] = "DEPLOYED"
            return {"state": "COMPLETED", "model_id": model_id}
        if match := re.fullmatch(f"{ML}/_predict/text_embedding/(model-\\d+)", path):
            assert method == "POST" and set(body) == {"text_docs", "return_number", "target_response"}, body
            vectors = self.embed(match[1], body["text_docs"])
            return {"inference_results": [
                {"output": [{"name": "sentence_embedding", "data_type": "FLOAT32", "shape": [len(v)],
                             "data": [float(x) for x in v]}]} for v in vectors]}
        if match := re.fullmatch(f"{ML}/models/(model-\\d+)", path):
            model = self.models[match[1]]
            return {"model_state": model["state"], "model_config": model["model_config"],
                    "model_content_hash_value": model["hash"]}
        raise AssertionError(f"unscripted ML Commons request {method} {path}")

    def _create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        for field, spec in (body["mappings"]["properties"]).items():
            if spec.get("type") == "semantic":  # the mapping transformer reads the model (registered, 3.1+)
                model = self.models.get(spec["model_id"])
                if model is None or not (model["model_config"].get("additional_config") or {}).get("space_type"):
                    raise RequestError(400, "illegal_argument_exception",
                                       f"{field}: the model needs model_config.additional_config.space_type")
        self.indices[name] = copy.deepcopy(body)  # the recorded request stays as it was sent
        self.docs[name], self.sent[name] = {}, {}
        return {"acknowledged": True, "index": name}

    def _clone(self, source: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """``_clone``: the source must take no writes; the target gets its documents, mapping and settings, with
        the request's settings over them (null removes one)."""
        settings = self.indices[source]["settings"]["index"]
        if str(settings.get("blocks.write")).lower() != "true":
            raise RequestError(400, "illegal_state_exception", f"index {source} must block write operations")
        self.indices[target] = copy.deepcopy(self.indices[source])
        self.docs[target], self.sent[target] = copy.deepcopy(self.docs[source]), {}
        cloned = self.indices[target]["settings"]["index"]
        cloned["resize.source.name"] = source
        for key, value in flat_settings(body.get("settings", {})).items():
            key = key.removeprefix("index.")
            if value == "None":
                cloned.pop(key, None)
            else:
                cloned[key] = value
        return {"acknowledged": True, "shards_acknowledged": True, "index": target}

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

    def _ingest(self, index: str, source: dict[str, Any]) -> dict[str, Any]:
        """What the index's ingest pipeline and semantic fields make of a document."""
        stored = dict(source)
        settings = self.indices[index]["settings"]["index"]
        pipeline = settings.get("default_pipeline", "_none")
        if pipeline != "_none":
            pipeline_put = self.calls_to("PUT", f"/_ingest/pipeline/{pipeline}")[-1]["body"]
            processor = _json(pipeline_put)["processors"][0]["text_embedding"]
            for text_field, vector_field in processor["field_map"].items():
                stored[vector_field] = self._vector(processor["model_id"], stored[text_field])
        for field, spec in self._semantic_fields(index).items():
            if field in stored:
                stored[f"{field}_semantic_info"] = {
                    "embedding": self._vector(spec["model_id"], stored[field]),
                    "model": {"id": spec["model_id"], "name": "mros", "type": "TEXT_EMBEDDING"}}
        return stored

    def _vector(self, model_id: str, text: str) -> list[float]:
        vector = self.ingest_embed([text])[0] if self.ingest_embed is not None else self.embed(model_id, [text])[0]
        return [float(x) for x in vector]

    def _bulk(self, body: Any) -> dict:
        text = body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else "\n".join(body)
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        items = []
        while lines:
            header = lines.pop(0)
            if "delete" in header:
                index, doc_id = header["delete"]["_index"], header["delete"]["_id"]
                found = self.docs[index].pop(doc_id, None) is not None
                items.append({"delete": {"_index": index, "_id": doc_id, "status": 200 if found else 404}})
                continue
            action, source = header["index"], lines.pop(0)
            index, doc_id = action["_index"], action["_id"]
            self.sent[index][doc_id] = source
            self.docs[index][doc_id] = source if action.get("pipeline") == "_none" else self._ingest(index, source)
            items.append({"index": {"_index": index, "_id": doc_id, "status": 201}})
        return {"took": 1, "errors": False, "items": items}

    def _reindex(self, body: dict[str, Any]) -> dict[str, Any]:
        """``_reindex`` of the documents a ``terms`` query on ``product_id`` names, sources copied as they are
        (``dest.pipeline: _none``) or through the destination's ingest."""
        source, dest = body["source"]["index"], body["dest"]["index"]
        wanted = set(body["source"]["query"]["terms"]["product_id"])
        created = 0
        for doc_id, doc in self.docs[source].items():
            if doc_id in wanted:
                copied = copy.deepcopy(doc)
                self.docs[dest][doc_id] = copied if body["dest"].get("pipeline") == "_none" else self._ingest(dest, copied)
                created += 1
        return {"created": created, "updated": 0, "failures": []}

    def _pit_search(self, body: dict[str, Any]) -> dict[str, Any]:
        """A page of a point-in-time read (:mod:`mr_opensearch.cluster.index_reader`): sorted by the sort field,
        after ``search_after``, ``_source`` as asked."""
        index = self.pits[body["pit"]["id"]]
        (sort_field, _), = body["sort"][0].items()
        rows = sorted(self.docs[index].items(), key=lambda item: item[1].get(sort_field, item[0]))
        if body.get("search_after"):
            rows = [r for r in rows if r[1].get(sort_field, r[0]) > body["search_after"][0]]
        wanted = body.get("_source", True)
        hits = []
        for doc_id, doc in rows[: body["size"]]:
            hit: dict[str, Any] = {"_index": index, "_id": doc_id, "sort": [doc.get(sort_field, doc_id)]}
            if wanted is True:
                hit["_source"] = copy.deepcopy(doc)
            elif wanted:
                hit["_source"] = _filtered(doc, wanted)
            hits.append(hit)
        return {"took": 1, "pit_id": body["pit"]["id"], "hits": {"hits": hits}}

    def _mget(self, index: str, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        includes = str(params.get("_source_includes", "")).split(",") if params.get("_source_includes") else None
        out = []
        for doc_id in body["ids"]:
            if doc_id not in self.docs[index]:
                out.append({"_index": index, "_id": doc_id, "found": False})
                continue
            source = self.docs[index][doc_id]
            if includes is not None:
                source = _filtered(source, includes)
            out.append({"_index": index, "_id": doc_id, "found": True, "_source": source})
        return {"docs": out}

    # ------------------------------------------------------------------------------------------ search

    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body["query"]
        if "match_all" in query:  # a scan of the ids (scroll)
            hits = [{"_index": index, "_id": doc_id, "_score": 1.0} for doc_id in self.docs[index]]
            return {"_scroll_id": "scroll-1", "took": 1, "_shards": {"total": 1, "successful": 1, "skipped": 0},
                    "hits": {"total": {"value": len(hits)}, "hits": hits}}
        if "hybrid" in query:
            legs = query["hybrid"]["queries"]
            assert len(legs) == 2 and "multi_match" in legs[0], legs
            scored = self._neural(index, legs[1]["neural"])
        elif "neural" in query:
            scored = self._neural(index, query["neural"])
        else:
            raise AssertionError(f"unscripted search {body}")
        hits = [{"_index": index, "_id": doc_id, "_score": score,
                 "_source": {k: self.docs[index][doc_id].get(k) for k in ("product_id", "title")}}
                for doc_id, score in scored[: int(body.get("size", 10))]]
        return {"took": 1, "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits}}

    def _neural(self, index: str, clause: dict[str, Any]) -> list[tuple[str, float]]:
        """neural-search's resolution (``NeuralQueryBuilder``): on a semantic field the model is the query's
        ``model_id``, else the mapping's; any other field needs ``model_id``."""
        (field, spec), = clause.items()
        semantic = self._semantic_fields(index)
        properties = self.indices[index]["mappings"]["properties"]
        if field in semantic:
            model_id = spec.get("model_id") or semantic[field].get("search_model_id") or semantic[field]["model_id"]
            path = f"{field}_semantic_info.embedding"
        elif properties.get(field, {}).get("type") == "knn_vector":
            if not spec.get("model_id"):
                raise RequestError(400, "illegal_argument_exception", "model id must be provided in neural query")
            model_id, path = spec["model_id"], field
        else:
            raise RequestError(400, "illegal_argument_exception", f"field {field} is not a knn_vector or semantic field")
        query = self.embed(model_id, [spec["query_text"]])[0]
        scored = []
        for doc_id, source in self.docs[index].items():
            vector = _filtered(source, [path])
            for key in path.split("."):
                vector = vector.get(key) if isinstance(vector, dict) else None
            if vector is None:
                continue
            v = np.asarray(vector, dtype=np.float64)
            cosine = float(v @ query / (np.linalg.norm(v) * np.linalg.norm(query)))
            scored.append((doc_id, (1.0 + cosine) / 2.0))
        scored.sort(key=lambda item: -item[1])
        if "min_score" in spec:
            return [(d, s) for d, s in scored if s >= spec["min_score"]]
        return scored[: int(spec.get("k", 10))]


def _filtered(source: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """``source`` with only ``paths`` (dotted) kept, as ``_source_includes`` does."""
    out: dict[str, Any] = {}
    for path in paths:
        keys, value, ok = path.split("."), source, True
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                ok = False
                break
            value = value[key]
        if ok:
            node = out
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
    return out


def scripted_client(cluster: ScriptedCluster) -> OpenSearch:
    class RecordingTransport(Transport):
        def perform_request(self, method: str, url: str, params: Any = None, body: Any = None,
                            timeout: Any = None, ignore: Any = (), headers: Any = None) -> Any:
            cluster.calls.append({"method": method, "path": url, "params": dict(params or {}), "body": body})
            return cluster.answer(method, url, dict(params or {}), body)

    return OpenSearch(hosts=["http://scripted.invalid:9200"], transport_class=RecordingTransport)


def make_engine_run(run: Path, seed: int = 0) -> Path:
    """A run directory as `mros train` writes it: the ML Commons zip holds the same model.onnx and
    tokenizer.json as onnx/int8/ (a tiny lookup graph: token rows drawn with ``seed``, mean pooled)."""
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
                 np.random.default_rng(seed).normal(size=(len(words), DIMENSION)).astype(np.float32))
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


def run_encoder(run: Path, pooling: str | None = None) -> Embed:
    """The run's ONNX model as ML Commons runs it: pooled and normalised as ml-commons.json says, or with
    another ``pooling`` (an ML Commons that pools otherwise)."""
    from mr_opensearch.core.onnx_encoder import OnnxEncoder

    model = load_run(run)
    encoder = OnnxEncoder(model.onnx, model.tokenizer, pooling=pooling or model.pooling_mode,
                          normalize=model.normalize_result)
    return lambda texts: encoder.encode(list(texts))


def run_sha(run: Path) -> str:
    return json.loads((run / "onnx" / "ml-commons.json").read_text())["model_content_hash_value"]


def engine_cluster(run: Path, version: str = "3.5.0", plugins: list[str] | None = None,
                   pooling: str | None = None, ingest_embed: Embed | None = None) -> ScriptedCluster:
    """A cluster whose ML Commons runs ``run``'s model (pooled with ``pooling`` when given)."""
    return ScriptedCluster(plugins, version=version, embedders={run_sha(run): run_encoder(run, pooling)},
                           ingest_embed=ingest_embed)


def engine_deploy(run: Path, cluster: ScriptedCluster | None = None, *, version: str = "3.5.0",
                  plugins: list[str] | None = None, catalog: ServingCatalog = CATALOG,
                  **options: Any) -> tuple[ScriptedCluster, Any]:
    cluster = cluster if cluster is not None else engine_cluster(run, version, plugins)
    outcome = deploy(scripted_client(cluster), load_run(run), catalog,
                     DeployOptions(alias=options.pop("alias", "shop"), embedding=options.pop("embedding", "auto"),
                                   **options),
                     log=lambda _: None)
    return cluster, outcome
