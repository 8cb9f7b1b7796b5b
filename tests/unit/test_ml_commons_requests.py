"""Request shapes of engine mode's ML Commons and ingest-pipeline calls, against a recording client.

``RecordingClient`` exposes ``.transport.perform_request(method, path, body=None, params=None,
headers=None)``, records every call and answers from canned responses scripted per ``(method, path)``.
This checks the *requests mros sends* against the shapes in ML Commons 3.5's source (see
``mr_opensearch/deploy/ml_commons.py``); it does not claim anything about how OpenSearch answers them — the
answers here are written by hand. The real cluster calls are in ``tests/integration/test_engine_mode.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy import ml_commons
from mr_opensearch.deploy.ingest_pipeline import (
    get_ingest_pipeline,
    ingest_pipeline_body,
    put_ingest_pipeline,
)
from mr_opensearch.deploy.ml_commons import Registration
from mr_opensearch.deploy.write_plan import WritePlan
from tests.tools import ml_commons_support

ML = "/_plugins/_ml"
SEARCHES = {f"{ML}/models/_search", f"{ML}/model_groups/_search"}
MODEL_CONFIG = {
    "model_type": "bert",
    "embedding_dimension": 8,
    "framework_type": "sentence_transformers",
    "pooling_mode": "MEAN",
    "normalize_result": True,
    "all_config": "{\"model_type\": \"bert\"}",
}


class Transport:
    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def perform_request(self, method: str, path: str, body: Any = None, params: Any = None,
                        headers: Any = None) -> Any:
        self.calls.append({"method": method, "path": path, "body": body, "params": params, "headers": headers})
        key = (method, path)
        if key not in self.answers:
            for m, pattern in self.answers:
                if m == method and "*" in pattern and re.fullmatch(pattern.replace("*", "[^/]+"), path):
                    key = (m, pattern)
                    break
            else:
                raise AssertionError(f"unscripted request {method} {path}")
        answer = self.answers[key]
        if isinstance(answer, list):  # a sequence of answers, the last one repeated
            return answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            return answer(body)
        return answer


class Ingest:
    def __init__(self) -> None:
        self.pipelines: dict[str, Any] = {}

    def put_pipeline(self, id: str, body: Any) -> dict:
        self.pipelines[id] = body
        return {"acknowledged": True}

    def get_pipeline(self, id: str) -> dict:
        from opensearchpy.exceptions import NotFoundError

        if id not in self.pipelines:
            raise NotFoundError(404, "not_found", {})
        return {id: self.pipelines[id]}


class RecordingClient:
    def __init__(self, answers: dict[tuple[str, str], Any] | None = None) -> None:
        self.transport = Transport(answers or {})
        self.ingest = Ingest()

    def calls(self, method: str | None = None, path: str | Callable[[str], bool] | None = None) -> list[dict]:
        out = self.transport.calls
        if method:
            out = [c for c in out if c["method"] == method]
        if isinstance(path, str):
            out = [c for c in out if c["path"] == path]
        elif path is not None:
            out = [c for c in out if path(c["path"])]
        return out


def empty_hits() -> dict:
    return {"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}


def model_hit(model_id: str, state: str, sha: str) -> dict:
    return {"_id": model_id, "_source": {"name": "mros-x", "model_version": "1", "model_state": state,
                                         "model_content_hash_value": sha, "algorithm": "TEXT_EMBEDDING"}}


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, bytes, str]:
    """An exported package: a 25,000-byte zip (2.5 chunks of 10,000 bytes) and its ml-commons.json."""
    data = bytes((i * 7 + 3) % 251 for i in range(25_000))
    (tmp_path / "ml-commons.zip").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    register = {"name": "exported-name", "version": "1.0.0", "description": "mros test encoder",
                "function_name": "TEXT_EMBEDDING", "model_format": "ONNX", "model_content_hash_value": sha,
                "model_content_size_in_bytes": len(data), "model_config": MODEL_CONFIG,
                "parity": {"fp32_mean_cosine": 0.99999, "opset": 17}, "variant": "int8"}
    (tmp_path / "ml-commons.json").write_text(json.dumps(register))
    return tmp_path, data, sha


def fresh_cluster(sha: str, deploy_states: list[dict]) -> dict[tuple[str, str], Any]:
    return {
        ("POST", f"{ML}/models/_search"): empty_hits(),
        ("POST", f"{ML}/model_groups/_search"): empty_hits(),
        ("POST", f"{ML}/model_groups/_register"): {"model_group_id": "grp1", "status": "CREATED"},
        ("POST", f"{ML}/models/_register_meta"): {"model_id": "m1", "status": "CREATED"},
        ("POST", f"{ML}/models/m1/upload_chunk/*"): {"status": "Uploaded"},
        ("POST", f"{ML}/models/m1/_deploy"): {"task_id": "t1", "task_type": "DEPLOY_MODEL", "status": "CREATED"},
        ("GET", f"{ML}/tasks/t1"): deploy_states,
    }


def test_register_meta_body_has_exactly_the_api_fields(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    client = RecordingClient(fresh_cluster(sha, [{"state": "COMPLETED", "model_id": "m1"}]))
    model_id = ml_commons.ensure_model(client, folder, name="mros-shop", poll=0.001)
    assert model_id == "m1"
    (meta,) = client.calls("POST", f"{ML}/models/_register_meta")
    assert meta["body"] == {
        "name": "mros-shop",
        "version": "1.0.0",
        "description": "mros test encoder",
        "function_name": "TEXT_EMBEDDING",
        "model_format": "ONNX",
        "model_group_id": "grp1",
        "model_content_hash_value": sha,
        "model_content_size_in_bytes": 25_000,
        "total_chunks": 1,  # 25,000 bytes in one default 10,000,000-byte chunk
        "model_config": MODEL_CONFIG,
    }
    assert re.fullmatch(r"[0-9a-f]{64}", meta["body"]["model_content_hash_value"])
    for key in ml_commons.META_MANDATORY:
        assert meta["body"][key] not in (None, "")
    (group,) = client.calls("POST", f"{ML}/model_groups/_register")
    assert group["body"] == {"name": "mros-shop", "description": "mros models named mros-shop"}


def test_chunks_numbered_from_zero_and_concatenate_to_the_zip(package: tuple[Path, bytes, str]) -> None:
    folder, data, sha = package
    client = RecordingClient(fresh_cluster(sha, [{"state": "COMPLETED"}]))
    seen: list[tuple[int, int]] = []
    register = json.loads((folder / "ml-commons.json").read_text())
    model_id = ml_commons.register_model_chunked(
        client, folder / "ml-commons.zip", register_body=register, model_group_id="grp1", chunk_bytes=10_000,
        on_chunk=lambda n, total: seen.append((n, total)))
    assert model_id == "m1"
    (meta,) = client.calls("POST", f"{ML}/models/_register_meta")
    assert meta["body"]["total_chunks"] == 3  # ceil(25,000 / 10,000)
    assert "parity" not in meta["body"] and "variant" not in meta["body"]
    chunks = client.calls("POST", lambda p: "/upload_chunk/" in p)
    assert [c["path"] for c in chunks] == [f"{ML}/models/m1/upload_chunk/{n}" for n in (0, 1, 2)]
    assert [len(c["body"]) for c in chunks] == [10_000, 10_000, 5_000]
    assert b"".join(c["body"] for c in chunks) == data
    assert all(c["headers"] == {"Content-Type": "application/json"} for c in chunks)
    assert seen == [(0, 3), (1, 3), (2, 3)]


def test_chunks_above_the_server_limit_are_refused(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    client = RecordingClient(fresh_cluster(sha, []))
    with pytest.raises(MrosError, match="10,000,000"):
        ml_commons.register_model_chunked(client, folder / "ml-commons.zip", register_body={
            "name": "x", "model_config": MODEL_CONFIG}, model_group_id=None, chunk_bytes=10_000_001)
    assert client.transport.calls == []


def test_existing_hash_is_reused_without_any_register_request(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    search = {"hits": {"hits": [model_hit("old-registered", "REGISTERED", sha),
                                model_hit("live", "DEPLOYED", sha),
                                model_hit("half", "REGISTERING", sha)]}}
    client = RecordingClient({("POST", f"{ML}/models/_search"): search})
    assert ml_commons.ensure_model(client, folder, name="mros-shop") == "live"
    assert [(c["method"], c["path"]) for c in client.transport.calls] == [("POST", f"{ML}/models/_search")]
    query = client.transport.calls[0]["body"]["query"]["bool"]
    assert query["filter"] == [{"term": {"model_content_hash_value": sha}}]
    assert query["must_not"] == [{"exists": {"field": "chunk_number"}}]


def test_registered_model_with_hash_is_deployed_not_registered(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    answers = {
        ("POST", f"{ML}/models/_search"): {"hits": {"hits": [model_hit("m9", "UNDEPLOYED", sha)]}},
        ("POST", f"{ML}/models/m9/_deploy"): {"task_id": "t9", "status": "CREATED"},
        ("GET", f"{ML}/tasks/t9"): [{"state": "RUNNING"}, {"state": "COMPLETED", "model_id": "m9"}],
    }
    client = RecordingClient(answers)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", poll=0.001) == "m9"
    paths = [c["path"] for c in client.transport.calls]
    assert paths == [f"{ML}/models/_search", f"{ML}/models/m9/_deploy", f"{ML}/tasks/t9", f"{ML}/tasks/t9"]


def test_find_model_by_hash_returns_none_when_the_index_is_missing() -> None:
    from opensearchpy.exceptions import NotFoundError

    def missing(body: Any) -> Any:
        raise NotFoundError(404, "index_not_found_exception", {"error": "no such index [.plugins-ml-model]"})

    client = RecordingClient({("POST", f"{ML}/models/_search"): missing})
    assert ml_commons_support.find_model_by_hash(client, "a" * 64) is None


def test_deploy_task_polled_until_completed(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    states = [{"state": "CREATED"}, {"state": "RUNNING"}, {"state": "RUNNING"}, {"state": "COMPLETED"}]
    client = RecordingClient(fresh_cluster(sha, states))
    ml_commons.ensure_model(client, folder, name="mros-shop", poll=0.001)
    assert len(client.calls("GET", f"{ML}/tasks/t1")) == 4
    assert client.transport.calls[-1]["path"] == f"{ML}/tasks/t1"


def test_failed_deploy_task_raises_with_the_task_error(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    failed = {"state": "FAILED", "error": '{"node1":"Model content hash can\'t match original hash value"}'}
    client = RecordingClient(fresh_cluster(sha, [{"state": "RUNNING"}, failed]))
    with pytest.raises(MrosError, match=r"ended FAILED: .*Model content hash can't match"):
        ml_commons.ensure_model(client, folder, name="mros-shop", poll=0.001)


def test_deploy_that_never_finishes_times_out(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    client = RecordingClient(fresh_cluster(sha, [{"state": "RUNNING"}]))
    with pytest.raises(MrosError, match="did not finish within"):
        ml_commons.ensure_model(client, folder, name="mros-shop", deploy_timeout=0.05, poll=0.005)
    assert len(client.calls("GET", f"{ML}/tasks/t1")) >= 2


def test_dry_run_sends_only_searches_and_plans_every_write(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    client = RecordingClient(fresh_cluster(sha, [{"state": "COMPLETED"}]))
    plan = WritePlan(dry_run=True)
    model_id = ml_commons.ensure_model(client, folder, name="mros-shop", plan=plan,
                                       registration=Registration(chunk_bytes=10_000))
    assert model_id == "<model_id>"
    assert all(c["method"] == "GET" or c["path"] in SEARCHES for c in client.transport.calls)
    assert {c["path"] for c in client.transport.calls} == SEARCHES
    assert [(e["method"], e["path"]) for e in plan.entries] == [
        ("POST", f"{ML}/model_groups/_register"),
        ("POST", f"{ML}/models/_register_meta"),
        ("POST", f"{ML}/models/<model_id>/upload_chunk/<0..2>"),
        ("POST", f"{ML}/models/<model_id>/_deploy"),
    ]
    assert plan.entries[1]["body"]["total_chunks"] == 3
    assert plan.entries[1]["body"]["model_group_id"] == "<model_group_id>"
    assert plan.entries[2]["summary"].startswith("3 chunks of 10,000 bytes (the last 5,000)")


def test_url_registration_body_and_task(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    answers = fresh_cluster(sha, [{"state": "COMPLETED"}])
    answers[("POST", f"{ML}/models/_register")] = {"task_id": "r1", "status": "CREATED"}
    answers[("GET", f"{ML}/tasks/r1")] = [{"state": "RUNNING"}, {"state": "COMPLETED", "model_id": "m1"}]
    client = RecordingClient(answers)
    url = "file:///models/ml-commons.zip"
    assert ml_commons.ensure_model(client, folder, name="mros-shop", registration=Registration(mode="url", url=url),
                                   poll=0.001) == "m1"
    (register,) = client.calls("POST", f"{ML}/models/_register")
    assert register["body"] == {
        "name": "mros-shop", "version": "1.0.0", "description": "mros test encoder",
        "function_name": "TEXT_EMBEDDING", "model_format": "ONNX", "model_group_id": "grp1",
        "model_content_hash_value": sha, "model_content_size_in_bytes": 25_000,
        "model_config": MODEL_CONFIG, "url": url,
    }
    assert not client.calls("POST", f"{ML}/models/_register_meta")


def test_changed_zip_is_refused_before_any_request(package: tuple[Path, bytes, str]) -> None:
    folder, data, _ = package
    (folder / "ml-commons.zip").write_bytes(data + b"!")
    client = RecordingClient({})
    with pytest.raises(MrosError, match="zip changed after export"):
        ml_commons.ensure_model(client, folder, name="mros-shop")
    assert client.transport.calls == []


def test_unsupported_pooling_mode_is_refused() -> None:
    body = {"name": "x", "model_config": {**MODEL_CONFIG, "pooling_mode": "LAST_TOKEN"}}
    with pytest.raises(MrosError, match="LAST_TOKEN"):
        ml_commons.register_meta_body(body, sha256="a" * 64, size=1, total_chunks=1, model_group_id=None)


def test_model_group_found_by_exact_name() -> None:
    hits = {"hits": {"hits": [{"_id": "g-other", "_source": {"name": "mros-shop-old"}},
                              {"_id": "g7", "_source": {"name": "mros-shop"}}]}}
    client = RecordingClient({("POST", f"{ML}/model_groups/_search"): hits})
    assert ml_commons.ensure_model_group(client, "mros-shop", "d") == "g7"
    (search,) = client.transport.calls
    assert search["body"]["query"] == {"term": {"name.keyword": "mros-shop"}}


def test_local_model_settings_body() -> None:
    assert ml_commons_support.local_model_settings_body() == {"persistent": {
        "plugins.ml_commons.only_run_on_ml_node": False,
        "plugins.ml_commons.allow_registering_model_via_local_file": True}}
    assert ml_commons_support.local_model_settings_body(via_url=True, native_memory_threshold=100) == {"persistent": {
        "plugins.ml_commons.only_run_on_ml_node": False,
        "plugins.ml_commons.allow_registering_model_via_local_file": True,
        "plugins.ml_commons.allow_registering_model_via_url": True,
        "plugins.ml_commons.native_memory_threshold": 100}}


def test_has_engine_plugins_names_what_is_missing() -> None:
    class Cat:
        def __init__(self, names: list[str]) -> None:
            self.names = names

        def plugins(self, format: str) -> list[dict]:
            return [{"name": "node-1", "component": n, "version": "3.5.0.0"} for n in self.names]

    class Client:
        def __init__(self, names: list[str]) -> None:
            self.cat = Cat(names)

    ok, reason = ml_commons_support.has_engine_plugins(Client(["opensearch-knn"]))
    assert not ok
    assert reason == ("the cluster lacks ML Commons (opensearch-ml) and neural-search (opensearch-neural-search)")
    ok, reason = ml_commons_support.has_engine_plugins(Client(["opensearch-knn", "opensearch-ml"]))
    assert (ok, reason) == (False, "the cluster lacks neural-search (opensearch-neural-search)")
    assert ml_commons_support.has_engine_plugins(Client(["opensearch-knn", "opensearch-ml", "opensearch-neural-search"])) == (
        True, "the cluster has ML Commons (opensearch-ml) and neural-search (opensearch-neural-search)")


def test_ingest_pipeline_body_exact() -> None:
    assert ingest_pipeline_body("m1", description="mros: embeds idx") == {
        "description": "mros: embeds idx",
        "processors": [{"text_embedding": {"model_id": "m1", "field_map": {"embedding_text": "embedding"}}}],
    }
    assert ingest_pipeline_body("m2", source_field="t", target_field="v", description="d") == {
        "description": "d",
        "processors": [{"text_embedding": {"model_id": "m2", "field_map": {"t": "v"}}}],
    }


def test_put_and_get_ingest_pipeline() -> None:
    client = RecordingClient()
    assert get_ingest_pipeline(client, "p") is None
    body = ingest_pipeline_body("m1", description="d")
    put_ingest_pipeline(client, "p", body)
    assert get_ingest_pipeline(client, "p") == body


def test_legacy_register_model_uses_register_meta(tmp_path: Path) -> None:
    zip_path = tmp_path / "m.zip"
    zip_path.write_bytes(b"x" * 30)
    client = RecordingClient({("POST", f"{ML}/models/_register_meta"): {"model_id": "m1", "status": "CREATED"},
                              ("POST", f"{ML}/models/m1/upload_chunk/*"): {"status": "Uploaded"}})
    assert ml_commons_support.register_model(client, zip_path, name="n", model_config=MODEL_CONFIG, chunk_bytes=16) == "m1"
    (meta,) = client.calls("POST", f"{ML}/models/_register_meta")
    assert meta["body"]["total_chunks"] == 2
    assert meta["body"]["model_content_hash_value"] == hashlib.sha256(b"x" * 30).hexdigest()
    assert [len(c["body"]) for c in client.calls("POST", lambda p: "upload_chunk" in p)] == [16, 14]


# --- a rerun after a deploy killed inside ML Commons (issue #19): no orphan model for the hash -------


def group_hit(model_id: str, state: str, sha: str, group: str) -> dict:
    hit = model_hit(model_id, state, sha)
    hit["_source"]["model_group_id"] = group
    return hit


def test_unfinished_upload_of_own_group_is_deleted_then_registered_once(package: tuple[Path, bytes, str]) -> None:
    """Killed after _register_meta: the REGISTERING model of the alias's group can never deploy; the
    rerun deletes it before registering, so one model is left for the hash."""
    folder, _, sha = package
    answers = fresh_cluster(sha, [{"state": "COMPLETED", "model_id": "m1"}])
    answers[("POST", f"{ML}/models/_search")] = {"hits": {"hits": [group_hit("dead", "REGISTERING", sha, "grp1")]}}
    answers[("DELETE", f"{ML}/models/dead")] = {"result": "deleted"}
    client = RecordingClient(answers)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1", poll=0.001) == "m1"
    assert [(c["method"], c["path"]) for c in client.transport.calls] == [
        ("POST", f"{ML}/models/_search"),
        ("DELETE", f"{ML}/models/dead"),
        ("POST", f"{ML}/models/_register_meta"),
        ("POST", f"{ML}/models/m1/upload_chunk/0"),
        ("POST", f"{ML}/models/m1/_deploy"),
        ("GET", f"{ML}/tasks/t1"),
    ]


def test_unfinished_upload_of_another_group_is_left_alone(package: tuple[Path, bytes, str]) -> None:
    """A REGISTERING model in another group may be another alias's upload still running: not touched."""
    folder, _, sha = package
    answers = fresh_cluster(sha, [{"state": "COMPLETED", "model_id": "m1"}])
    answers[("POST", f"{ML}/models/_search")] = {"hits": {"hits": [group_hit("busy", "REGISTERING", sha, "other")]}}
    client = RecordingClient(answers)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1", poll=0.001) == "m1"
    assert client.calls("DELETE") == []
    assert len(client.calls("POST", f"{ML}/models/_register_meta")) == 1


def test_orphan_is_deleted_and_the_usable_model_reused(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    search = {"hits": {"hits": [group_hit("dead", "REGISTERING", sha, "grp1"), group_hit("live", "DEPLOYED", sha, "grp1")]}}
    client = RecordingClient({("POST", f"{ML}/models/_search"): search,
                              ("DELETE", f"{ML}/models/dead"): {"result": "deleted"}})
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1") == "live"
    assert [(c["method"], c["path"]) for c in client.transport.calls] == [
        ("POST", f"{ML}/models/_search"), ("DELETE", f"{ML}/models/dead")]


def test_model_left_deploying_is_waited_for_not_registered_again(package: tuple[Path, bytes, str]) -> None:
    """Killed while the deploy task ran: the node keeps deploying; the rerun polls the model until it is
    DEPLOYED and sends neither a registration nor a second _deploy."""
    folder, _, sha = package
    answers = {
        ("POST", f"{ML}/models/_search"): {"hits": {"hits": [group_hit("m1", "DEPLOYING", sha, "grp1")]}},
        ("GET", f"{ML}/models/m1"): [{"model_state": "DEPLOYING"}, {"model_state": "DEPLOYED"}],
    }
    client = RecordingClient(answers)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1", poll=0.001) == "m1"
    assert [(c["method"], c["path"]) for c in client.transport.calls] == [
        ("POST", f"{ML}/models/_search"), ("GET", f"{ML}/models/m1"), ("GET", f"{ML}/models/m1")]


def test_model_whose_deploy_failed_meanwhile_is_deployed_again(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    answers = {
        ("POST", f"{ML}/models/_search"): {"hits": {"hits": [group_hit("m1", "DEPLOYING", sha, "grp1")]}},
        ("GET", f"{ML}/models/m1"): [{"model_state": "DEPLOY_FAILED"}],
        ("POST", f"{ML}/models/m1/_deploy"): {"task_id": "t1", "status": "CREATED"},
        ("GET", f"{ML}/tasks/t1"): [{"state": "COMPLETED", "model_id": "m1"}],
    }
    client = RecordingClient(answers)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1", poll=0.001) == "m1"
    assert client.calls("POST", f"{ML}/models/_register_meta") == []
    assert len(client.calls("POST", f"{ML}/models/m1/_deploy")) == 1


def test_dry_run_plans_the_orphan_deletion_and_sends_only_searches(package: tuple[Path, bytes, str]) -> None:
    folder, _, sha = package
    answers = fresh_cluster(sha, [{"state": "COMPLETED"}])
    answers[("POST", f"{ML}/models/_search")] = {"hits": {"hits": [group_hit("dead", "REGISTERING", sha, "grp1")]}}
    client = RecordingClient(answers)
    plan = WritePlan(dry_run=True)
    assert ml_commons.ensure_model(client, folder, name="mros-shop", model_group_id="grp1",
                                   plan=plan) == "<model_id>"
    assert {c["path"] for c in client.transport.calls} == {f"{ML}/models/_search"}
    assert [(e["method"], e["path"]) for e in plan.entries][:2] == [
        ("DELETE", f"{ML}/models/dead"), ("POST", f"{ML}/models/_register_meta")]


def test_kill_points_are_silent_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from mr_opensearch.deploy import kill_points

    monkeypatch.delenv(kill_points.ENV, raising=False)
    for phase in kill_points.PHASES:
        kill_points.reached(phase)  # no variable: nothing happens
    monkeypatch.setenv(kill_points.ENV, "chunk-upload")
    kill_points.reached("model-deploying")  # another phase: nothing happens
    monkeypatch.setenv(kill_points.ENV, "no-such-phase")
    with pytest.raises(MrosError, match="names no phase"):
        kill_points.reached("chunk-upload")
