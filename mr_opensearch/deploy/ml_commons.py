"""ML Commons client calls: model group, register (chunked or by URL) deduplicated by content hash, deploy.

All calls go through an ``opensearch-py`` client (``client.transport.perform_request``) so they work
against any cluster the caller is connected to. Retrying is the transport's: a client of
:func:`mr_opensearch.cluster.connection.connect` sends every request under
:mod:`mr_opensearch.cluster.retry_policy`, which retries what is worth retrying and raises
:class:`~mr_opensearch.cluster.retry_policy.RetriesExhausted` when it gives up. :func:`call` only turns
the other failures into a :class:`MrosError` that says what they mean here (a 404 can be allowed; a
registration whose answer was lost is not repeated by the policy, and the message says how to
recover). Asynchronous ML Commons tasks, and a model another deploy left DEPLOYING, are polled
(:func:`poll_until`) until they reach a final state or a timeout, reported as a :class:`MrosError` carrying
the last answer.

:func:`ensure_model` is the deploy's entry point: :func:`find_model`, then :func:`register_package`
when no usable model has the package's hash, then :func:`ensure_deployed`. Writes go through a
:class:`~mr_opensearch.deploy.write_plan.WritePlan`, which records them (``--dry-run`` only records).
:func:`predict_vectors` is the deploy's engine self-check (:mod:`mr_opensearch.deploy.engine_check`). What
only the tests use (the legacy ``register_model``, undeploy, delete, the local-model cluster settings) is
in ``tests/tools/ml_commons_support.py``.

API (ML Commons 3.5; checked against the ml-commons source, see below)::

    POST /_plugins/_ml/model_groups/_search        {query: term name.keyword}          -> search hits
    POST /_plugins/_ml/model_groups/_register      {name, description}                 -> {model_group_id}
    POST /_plugins/_ml/models/_search              {query: hash, no chunk_number}       -> search hits
    POST /_plugins/_ml/models/_register_meta       {name, version, description, function_name, model_format,
                                                    model_group_id, model_content_hash_value,
                                                    model_content_size_in_bytes, total_chunks, model_config}
                                                                                        -> {model_id, status}
    POST /_plugins/_ml/models/<id>/upload_chunk/<n>  raw bytes of chunk n, n = 0 .. total_chunks-1
    POST /_plugins/_ml/models/_register            {..., url}  (Option B)               -> {task_id}
    POST /_plugins/_ml/models/<id>/_deploy                                              -> {task_id}
    GET  /_plugins/_ml/tasks/<task_id>             -> {state: CREATED|RUNNING|COMPLETED|FAILED|..., model_id, error}
    GET  /_plugins/_ml/models/<id>                 -> {model_state, model_config, ...}
    DELETE /_plugins/_ml/models/<id>               (a REGISTERING model of the caller's own group)
    POST /_plugins/_ml/_predict/text_embedding/<id>  {text_docs, return_number: true,
                                                    target_response: ["sentence_embedding"]}
                                                    -> {inference_results: [{output: [{name, data_type,
                                                        shape: [dim], data: [...]}]}]}, one per text

On OpenSearch 3.1+ the registration's ``model_config`` also carries ``additional_config.space_type``
(``cosinesimil`` for a model that normalises its vectors, else ``innerproduct``): neural-search's
``semantic`` field reads the space type of the knn_vector it creates from there and refuses a local
model without it; ``additional_config`` does not exist in ML Commons 3.0, so 3.0 bodies leave it out
(``../shared/reference/opensearch-3.x-live-service.md`` §1.4 and §6). :func:`registered_space_type`
reads it back from a model found by its hash (one registered before mros sent it has none).

What was verified in ml-commons' source (the code corpus, ``opensearch-project/ml-commons``) and what
follows from it:

* ``RestMLRegisterModelMetaAction``: route ``POST /_plugins/_ml/models/_register_meta`` (old alias
  ``/models/meta``); refused unless ``plugins.ml_commons.allow_registering_model_via_local_file`` is true.
* ``MLRegisterModelMetaInput``: ``name``, ``model_format``, ``model_content_hash_value``,
  ``model_config`` and ``total_chunks`` are mandatory (null -> IllegalArgumentException);
  ``function_name`` defaults to TEXT_EMBEDDING; unknown top-level keys are skipped by the parser, but
  mros sends only the API's keys (the run's ``ml-commons.json`` also holds ``parity`` and ``variant``).
* ``RestMLUploadModelChunkAction``: route ``POST /models/{model_id}/upload_chunk/{chunk_number}`` (old
  alias ``/chunk/``), body read as raw bytes (``request.content().streamInput().readAllBytes()``);
  ``MLModelChunkUploader`` rejects ``chunk_number >= total_chunks`` and chunks larger than
  ``ModelHelper.CHUNK_SIZE`` (10,000,000 bytes, "Chunk size exceeds 10MB"), stores chunk ``n`` as document
  ``<model_id>_<n>`` with a ``chunk_number`` field, and sets the model to REGISTERED after the last
  chunk. So chunks are numbered from 0 and at most 10,000,000 bytes each.
* Content-Type of a chunk: OpenSearch's ``RestController`` refuses any request with a body whose media
  type is not an XContent type (``sendContentTypeErrorMessage``), so ``application/octet-stream`` is
  answered 406 before the handler runs. The handler ignores the media type and reads raw bytes, so
  mros sends ``Content-Type: application/json`` -- what opensearch-py-ml's ``ModelUploader`` sends
  implicitly (it posts the raw chunk through ``transport.perform_request`` with the client's default
  JSON header).
* ``RestMLRegisterModelGroupAction``: ``POST /_plugins/_ml/model_groups/_register``; the group index
  maps ``name`` as text with a ``name.keyword`` sub-field, the model index maps
  ``model_content_hash_value`` and ``model_state`` as keyword (``index-mappings/ml_model*.json``).
* ``RestMLSearchModelAction``: ``/_plugins/_ml/models/_search`` searches the model index, which holds the
  chunk documents too; the documented way to leave them out is ``must_not exists chunk_number``.
* ``DeleteModelTransportAction`` refuses a model only while DEPLOYING / DEPLOYED / PARTIALLY_DEPLOYED
  (``isModelNotDeployed``) and deletes its chunk documents with it, so a REGISTERING model left by a
  killed upload can be deleted directly (:func:`ensure_model` does so for its own model group).
* ML Commons never deduplicates registrations (ml-commons#1844): registering the same zip twice makes
  two models. :func:`ensure_model` looks the hash up first, which is what makes a deploy idempotent.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import file_sha256
from mr_opensearch.deploy import kill_points
from mr_opensearch.deploy.write_plan import WritePlan

ML = "/_plugins/_ml"
CHUNK_LIMIT = 10_000_000  # ModelHelper.CHUNK_SIZE: the server refuses bigger chunks
DEFAULT_CHUNK_BYTES = CHUNK_LIMIT
FINAL_TASK_STATES = {"COMPLETED", "FAILED", "COMPLETED_WITH_ERROR", "CANCELLED", "EXPIRED"}
CHUNK_HEADERS = {"Content-Type": "application/json"}  # see the module docstring: raw bytes, JSON media type
ENGINE_PLUGINS = {"opensearch-ml": "ML Commons", "opensearch-neural-search": "neural-search"}

# Top-level keys of _register_meta (MLRegisterModelMetaInput) that mros sends; everything else in the
# run's ml-commons.json (parity, variant, ...) stays out of the request.
META_MANDATORY = ("name", "model_format", "model_content_hash_value", "model_config", "total_chunks")
MODEL_CONFIG_MANDATORY = ("model_type", "embedding_dimension", "framework_type")
FRAMEWORK_TYPES = {"sentence_transformers", "huggingface_transformers", "huggingface_transformers_neuron"}
POOLING_MODES_35 = {"MEAN", "MEAN_SQRT_LEN", "MAX", "WEIGHTED_MEAN", "CLS"}  # the 3.5 ONNX translator

# Which existing model to reuse for a hash, best first. REGISTERING means the chunk upload never
# finished (the server flips it to REGISTERED after the last chunk): such a model cannot deploy.
# UPLOADING is the pre-2.7 name of the same state (MLModelState keeps it, deprecated).
STATE_PREFERENCE = ("DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING", "REGISTERED", "UNDEPLOYED", "DEPLOY_FAILED")
UNUSABLE_STATES = {"REGISTERING", "UPLOADING"}


def call(
    client: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    allow_404: bool = False,
) -> Any:
    """One request through the client's transport (so under its retry policy); None for an allowed 404.

    A failure the policy gave up on arrives as ``RetriesExhausted`` and is raised as it is; a TLS error,
    a registration the policy would not repeat, and any other error answer become a :class:`MrosError`."""
    from opensearchpy.exceptions import ConnectionError as OsConnectionError
    from opensearchpy.exceptions import SSLError, TransportError

    from mr_opensearch.cluster.retry_policy import RETRY_STATUSES, describe, retryable, status_of

    try:
        return client.transport.perform_request(method, path, body=body, headers=headers)
    except SSLError as exc:
        raise MrosError(f"ML Commons {method} {path}: TLS error {exc.info}", "check opensearch.ca_certs") from None
    except (OsConnectionError, TransportError) as exc:
        status = status_of(exc) or 0
        if status == 404 and allow_404:
            return None
        transient = isinstance(exc, OsConnectionError) or status in RETRY_STATUSES
        if transient and not retryable(exc, method, path):
            # the policy does not resend a registration after a lost answer: it could register a second model
            raise MrosError(f"ML Commons {method} {path}: {describe(exc)} after the request was sent; whether "
                            "it took effect is unknown, so mros does not repeat it",
                            "rerun: a registered model is found by its content hash (`mros deploy`) and reused; "
                            "one left in state REGISTERING can be deleted with DELETE /_plugins/_ml/models/<id>") from None
        what = describe(exc) if isinstance(exc, OsConnectionError) else f"{status} {exc.error}: {exc.info}"
        raise MrosError(f"ML Commons {method} {path} failed: {what}") from None


def poll_until(read: Callable[[], dict[str, Any]], final: Callable[[dict[str, Any]], bool], *, timeout: float,
               every: float) -> dict[str, Any]:
    """``read()`` every ``every`` seconds until ``final(answer)`` holds or ``timeout`` seconds have passed;
    returns the last answer, so the caller tells a final one from one that timed out."""
    deadline = time.monotonic() + timeout
    answer = read()
    while not final(answer) and time.monotonic() < deadline:
        time.sleep(every)
        answer = read()
    return answer


def _chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            yield block


def _hits(answer: Any) -> list[dict[str, Any]]:
    if not answer:
        return []
    return list((answer.get("hits") or {}).get("hits") or [])


# --- model groups -----------------------------------------------------------------------------------


def find_model_group(client: Any, name: str) -> str | None:
    """The id of the model group called exactly ``name``, or None."""
    body = {"size": 10, "query": {"term": {"name.keyword": name}}}
    for hit in _hits(call(client, "POST", f"{ML}/model_groups/_search", body, allow_404=True)):
        if (hit.get("_source") or {}).get("name", name) == name:
            return str(hit["_id"])
    return None


def ensure_model_group(client: Any, name: str, description: str, plan: WritePlan | None = None) -> str:
    """The model group ``name``: found by name, else registered; returns its ``model_group_id``.

    Group names are unique in a cluster, so a lookup by name keeps reruns from failing. The registration
    goes through ``plan`` (none: sent, recorded nowhere); in a dry run only the search is sent and
    ``"<model_group_id>"`` is returned for a group to create.
    """
    found = find_model_group(client, name)
    if found:
        return found
    plan = plan if plan is not None else WritePlan()
    path, body = f"{ML}/model_groups/_register", {"name": name, "description": description}
    answer = plan.write("POST", path, body, lambda: call(client, "POST", path, body))
    if plan.dry_run:
        return "<model_group_id>"
    group_id = (answer or {}).get("model_group_id")
    if not group_id:
        raise MrosError(f"ML Commons did not return a model group id for {name}: {answer}")
    return str(group_id)


# --- finding a model by content -----------------------------------------------------------------------


def models_with_hash(client: Any, sha256: str) -> list[dict[str, Any]]:
    """Every model document (not chunk documents) whose zip has this SHA-256."""
    body = {
        "size": 100,
        "query": {
            "bool": {
                "filter": [{"term": {"model_content_hash_value": sha256}}],
                "must_not": [{"exists": {"field": "chunk_number"}}],
            }
        },
    }
    found = []
    for hit in _hits(call(client, "POST", f"{ML}/models/_search", body, allow_404=True)):
        source = hit.get("_source") or {}
        if "chunk_number" in source or source.get("model_content_hash_value", sha256) != sha256:
            continue
        found.append({
            "model_id": str(hit["_id"]),
            "model_state": source.get("model_state"),
            "name": source.get("name"),
            "version": source.get("model_version", source.get("version")),
            "model_group_id": source.get("model_group_id"),
        })
    return found


def best_usable(models: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model of ``models`` to reuse, DEPLOYED preferred (order :data:`STATE_PREFERENCE`), or None.

    A deleted model is gone from the model index, so every hit exists; models still REGISTERING (an
    upload that never finished) cannot deploy and are not reused.
    """
    candidates = [m for m in models if m["model_state"] not in UNUSABLE_STATES]
    if not candidates:
        return None

    def rank(model: dict[str, Any]) -> int:
        state = model["model_state"]
        return STATE_PREFERENCE.index(state) if state in STATE_PREFERENCE else len(STATE_PREFERENCE)

    return min(candidates, key=rank)


def unfinished_registrations(models: list[dict[str, Any]], model_group_id: str | None) -> list[dict[str, Any]]:
    """The models of ``models`` whose chunk upload never finished (REGISTERING) *in* ``model_group_id``.

    A deploy killed during the chunk upload leaves such a model; it can never deploy. Only the ones in
    the caller's own model group are returned: mros deploys hold the alias lock
    (:mod:`mr_opensearch.deploy.alias_lock`) and use one group per alias (``mros-<alias>``), so a REGISTERING
    model there is an earlier, dead upload of this alias -- one in another group may be another
    alias's upload still running, and is left alone.
    """
    if not model_group_id:
        return []
    return [m for m in models if m["model_state"] in UNUSABLE_STATES and m.get("model_group_id") == model_group_id]


def find_model(client: Any, sha256: str, model_group_id: str | None, plan: WritePlan) -> dict[str, Any] | None:
    """The model to reuse for this content hash (:func:`best_usable`), or None; first deletes, through
    ``plan``, the models of ``model_group_id`` whose upload never finished (:func:`unfinished_registrations`),
    so a rerun leaves no orphan model for the hash."""
    same_hash = models_with_hash(client, sha256)
    for orphan in unfinished_registrations(same_hash, model_group_id):
        path = f"{ML}/models/{orphan['model_id']}"
        plan.write("DELETE", path, None, lambda path=path: call(client, "DELETE", path, allow_404=True),
                   summary=f"a {orphan['model_state']} model of this hash whose upload never finished")
    return best_usable(same_hash)


# --- registering ------------------------------------------------------------------------------------


def _model_config(register_body: dict[str, Any]) -> dict[str, Any]:
    config = register_body.get("model_config")
    if not isinstance(config, dict):
        raise MrosError("the ML Commons package has no model_config object",
                        "re-export the run (`mros export --run RUN`)")
    missing = [key for key in MODEL_CONFIG_MANDATORY if config.get(key) in (None, "")]
    if missing:
        raise MrosError(f"model_config lacks {', '.join(missing)}", "re-export the run (`mros export --run RUN`)")
    if config["framework_type"] not in FRAMEWORK_TYPES:
        raise MrosError(f"model_config framework_type {config['framework_type']!r} is not one ML Commons accepts",
                        f"use one of {sorted(FRAMEWORK_TYPES)}")
    pooling = config.get("pooling_mode")
    if pooling is not None and str(pooling).upper() not in POOLING_MODES_35:
        raise MrosError(f"model_config pooling_mode {pooling!r} is not run by ML Commons 3.5's ONNX translator",
                        f"use one of {sorted(POOLING_MODES_35)}")
    return dict(config)


def register_meta_body(
    register_body: dict[str, Any],
    *,
    sha256: str,
    size: int,
    total_chunks: int,
    model_group_id: str | None,
    name: str | None = None,
    space_type: str | None = None,
) -> dict[str, Any]:
    """The ``_register_meta`` body: the API's keys only, from the run's ``ml-commons.json``; with
    ``space_type`` (OpenSearch 3.1+), ``model_config.additional_config.space_type`` is set to it."""
    config = _model_config(register_body)
    if space_type is not None:
        config["additional_config"] = {**(config.get("additional_config") or {}), "space_type": space_type}
    body: dict[str, Any] = {
        "name": name or register_body.get("name"),
        "version": str(register_body.get("version") or "1.0.0"),
        "function_name": "TEXT_EMBEDDING",
        "model_format": "ONNX",
        "model_content_hash_value": sha256,
        "model_content_size_in_bytes": int(size),
        "total_chunks": int(total_chunks),
        "model_config": config,
    }
    if register_body.get("description"):
        body["description"] = str(register_body["description"])
    if model_group_id:
        body["model_group_id"] = model_group_id
    if not body["name"]:
        raise MrosError("the model has no name", "pass name= or put one in ml-commons.json")
    return body


def _checked_hash(zip_path: Path, register_body: dict[str, Any]) -> str:
    sha = file_sha256(zip_path)
    recorded = register_body.get("model_content_hash_value")
    if recorded and recorded != sha:
        raise MrosError(f"{zip_path} has SHA-256 {sha[:12]}…, but ml-commons.json records {str(recorded)[:12]}…",
                        "the zip changed after export: re-export the run (`mros export --run RUN`)")
    return sha


def _total_chunks(size: int, chunk_bytes: int) -> int:
    if not 0 < chunk_bytes <= CHUNK_LIMIT:
        raise MrosError(f"chunk size {chunk_bytes} is outside 1..{CHUNK_LIMIT:,} bytes",
                        "ML Commons refuses chunks above 10,000,000 bytes")
    return max(1, math.ceil(size / chunk_bytes))


def register_model_chunked(
    client: Any,
    zip_path: Path,
    *,
    register_body: dict[str, Any],
    model_group_id: str | None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_chunk: Callable[[int, int], None] | None = None,
    name: str | None = None,
    space_type: str | None = None,
) -> str:
    """Option A: ``_register_meta`` then ``upload_chunk/0 .. total_chunks-1``; returns the model id.

    ``total_chunks = ceil(size / chunk_bytes)``; ``on_chunk(n, total_chunks)`` runs after chunk ``n``.
    """
    size = zip_path.stat().st_size
    total = _total_chunks(size, chunk_bytes)
    body = register_meta_body(register_body, sha256=_checked_hash(zip_path, register_body), size=size,
                              total_chunks=total, model_group_id=model_group_id, name=name, space_type=space_type)
    answer = call(client, "POST", f"{ML}/models/_register_meta", body)
    model_id = (answer or {}).get("model_id")
    if not model_id:
        raise MrosError(f"ML Commons did not return a model id for {body['name']}: {answer}")
    kill_points.reached("chunk-upload")  # the model exists, REGISTERING, and no chunk is uploaded yet
    sent = 0
    for number, chunk in enumerate(_chunks(zip_path, chunk_bytes)):
        call(client, "POST", f"{ML}/models/{model_id}/upload_chunk/{number}", chunk, headers=CHUNK_HEADERS)
        sent += 1
        if on_chunk is not None:
            on_chunk(number, total)
    if sent != total:
        raise MrosError(f"{zip_path} changed while uploading: {sent} chunks sent, {total} announced")
    return str(model_id)


def register_url_body(
    url: str, *, register_body: dict[str, Any], model_group_id: str | None, name: str | None = None,
    space_type: str | None = None,
) -> dict[str, Any]:
    """The ``_register`` body of Option B: the same metadata plus ``url``; the hash is mandatory there."""
    sha = register_body.get("model_content_hash_value")
    if not sha:
        raise MrosError("registering by URL needs model_content_hash_value",
                        "ML Commons refuses a URL registration without the zip's SHA-256")
    size = int(register_body.get("model_content_size_in_bytes") or 0)
    body = register_meta_body(register_body, sha256=str(sha), size=size, total_chunks=1,
                              model_group_id=model_group_id, name=name, space_type=space_type)
    body.pop("total_chunks")  # the node splits the downloaded zip itself
    if not size:
        body.pop("model_content_size_in_bytes")
    body["url"] = url
    return body


def register_model_url(
    client: Any,
    url: str,
    *,
    register_body: dict[str, Any],
    model_group_id: str | None,
    timeout: float = 600.0,
    name: str | None = None,
    poll: float = 1.0,
    space_type: str | None = None,
) -> str:
    """Option B: ``POST /_plugins/_ml/models/_register`` with ``url``; the task is polled to its model id.

    Needs ``allow_registering_model_via_url`` and a URL matching ``trusted_url_regex`` (``file://`` is
    allowed by default); the node itself downloads the zip."""
    body = register_url_body(url, register_body=register_body, model_group_id=model_group_id, name=name,
                             space_type=space_type)
    answer = call(client, "POST", f"{ML}/models/_register", body)
    model_id = (answer or {}).get("model_id")
    if not model_id and (answer or {}).get("task_id"):
        model_id = wait_for_task(client, answer["task_id"], timeout=timeout, poll=poll).get("model_id")
    if not model_id:
        raise MrosError(f"ML Commons did not return a model id for {body['name']}: {answer}")
    return str(model_id)


@dataclass(frozen=True)
class Package:
    """An exported run's ML Commons package: ``ml-commons.zip``, its ``ml-commons.json`` and the zip's hash."""

    zip_path: Path
    register_body: dict[str, Any]
    sha256: str
    size: int


def read_package(package_dir: Path) -> Package:
    """The package in an exported run's ``onnx/`` folder; refuses a zip whose hash ``ml-commons.json``
    contradicts (the zip changed after export)."""
    zip_path, meta_path = package_dir / "ml-commons.zip", package_dir / "ml-commons.json"
    for path in (zip_path, meta_path):
        if not path.exists():
            raise MrosError(f"{path} not found", "export the run first (`mros export --run RUN`)")
    try:
        register_body = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MrosError(f"{meta_path} is not JSON: {exc}", "re-export the run") from None
    return Package(zip_path=zip_path, register_body=register_body, sha256=_checked_hash(zip_path, register_body),
                   size=zip_path.stat().st_size)


@dataclass(frozen=True)
class Registration:
    """How :func:`register_package` registers: ``mode="chunks"`` uploads the zip in chunks of
    ``chunk_bytes`` (``on_chunk(n, total)`` after each); ``mode="url"`` lets the node fetch ``url``
    (default ``file://`` + the zip's absolute path, which only works when the node shares this
    filesystem) and polls the registration task for ``timeout`` seconds. ``space_type``, when set (OpenSearch
    3.1+), goes into ``model_config.additional_config`` (see the module docstring)."""

    mode: Literal["chunks", "url"] = "chunks"
    url: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    timeout: float = 600.0
    on_chunk: Callable[[int, int], None] | None = None
    space_type: str | None = None


def register_package(client: Any, package: Package, plan: WritePlan, *, name: str, model_group_id: str | None,
                     how: Registration, poll: float = 1.0) -> str:
    """Register ``package`` as a new model into ``model_group_id`` (or the group named ``name``, found or
    created); returns its model id, ``"<model_id>"`` in a dry run. The chunk uploads are recorded as one
    entry."""
    if model_group_id is None:
        model_group_id = ensure_model_group(client, name, f"mros models named {name}", plan)
    if how.mode == "chunks":
        total = _total_chunks(package.size, how.chunk_bytes)
        meta = register_meta_body(package.register_body, sha256=package.sha256, size=package.size,
                                  total_chunks=total, model_group_id=model_group_id, name=name,
                                  space_type=how.space_type)
        plan.note("POST", f"{ML}/models/_register_meta", meta)
        last = package.size - (total - 1) * how.chunk_bytes
        plan.note("POST", f"{ML}/models/<model_id>/upload_chunk/<0..{total - 1}>",
                  summary=f"{total} chunks of {how.chunk_bytes:,} bytes (the last {last:,}), raw bytes of "
                          f"{package.zip_path}")
        if plan.dry_run:
            return "<model_id>"
        return register_model_chunked(client, package.zip_path, register_body=package.register_body, name=name,
                                      model_group_id=model_group_id, chunk_bytes=how.chunk_bytes,
                                      on_chunk=how.on_chunk, space_type=how.space_type)
    if how.mode == "url":
        source = how.url or package.zip_path.resolve().as_uri()
        known = {**package.register_body, "model_content_hash_value": package.sha256,
                 "model_content_size_in_bytes": package.size}
        body = register_url_body(source, register_body=known, model_group_id=model_group_id, name=name,
                                 space_type=how.space_type)
        plan.note("POST", f"{ML}/models/_register", body,
                  summary=f"then GET {ML}/tasks/<task_id> until COMPLETED (at most {how.timeout:.0f}s)")
        if plan.dry_run:
            return "<model_id>"
        return register_model_url(client, source, register_body=known, model_group_id=model_group_id, name=name,
                                  timeout=how.timeout, poll=poll, space_type=how.space_type)
    raise MrosError(f"unknown registration mode {how.mode!r}", "use chunks or url")


# --- tasks, deploy ----------------------------------------------------------------------------------


def get_task(client: Any, task_id: str) -> dict[str, Any]:
    return call(client, "GET", f"{ML}/tasks/{task_id}")


def get_model(client: Any, model_id: str) -> dict[str, Any]:
    return call(client, "GET", f"{ML}/models/{model_id}")


def registered_space_type(client: Any, model_id: str) -> str | None:
    """``model_config.additional_config.space_type`` of a registered model, or None when it has none (a
    model registered before OpenSearch 3.1, or without it): a ``semantic`` field cannot use such a model."""
    config = (get_model(client, model_id) or {}).get("model_config") or {}
    space_type = (config.get("additional_config") or {}).get("space_type")
    return str(space_type) if space_type else None


# --- predict ----------------------------------------------------------------------------------------


def predict_path(model_id: str) -> str:
    return f"{ML}/_predict/text_embedding/{model_id}"


def predict_body(texts: list[str]) -> dict[str, Any]:
    """The documented text-embedding predict body: the texts, numbers back, the sentence embedding only."""
    return {"text_docs": list(texts), "return_number": True, "target_response": ["sentence_embedding"]}


def predict_vectors(client: Any, model_id: str, texts: list[str]) -> list[list[float]]:
    """The model's sentence embedding of each of ``texts`` (``POST /_plugins/_ml/_predict/text_embedding/<id>``;
    one ``inference_results`` entry per text, its ``sentence_embedding`` tensor's ``data``)."""
    answer = call(client, "POST", predict_path(model_id), predict_body(texts)) or {}
    results = answer.get("inference_results") or []
    if len(results) != len(texts):
        raise MrosError(f"ML Commons predicted {len(results)} results for {len(texts)} texts with model {model_id}: "
                        f"{json.dumps(answer)[:300]}")
    vectors = []
    for result in results:
        outputs = result.get("output") or []
        tensor = next((o for o in outputs if o.get("name") == "sentence_embedding"), outputs[0] if outputs else {})
        if not tensor.get("data"):
            raise MrosError(f"ML Commons returned no sentence_embedding for model {model_id}: {json.dumps(result)[:300]}")
        vectors.append([float(x) for x in tensor["data"]])
    return vectors


def wait_for_task(client: Any, task_id: str, *, timeout: float = 300.0, poll: float = 1.0) -> dict[str, Any]:
    """Poll an ML Commons task until it is final; MrosError when it failed or did not finish."""
    task = poll_until(lambda: get_task(client, task_id), lambda t: t.get("state") in FINAL_TASK_STATES,
                      timeout=timeout, every=poll)
    if task.get("state") not in FINAL_TASK_STATES:
        raise MrosError(f"ML Commons task {task_id} did not finish within {timeout:.0f}s: {task}")
    if task.get("state") != "COMPLETED":
        raise MrosError(
            f"ML Commons task {task_id} ended {task.get('state')}: {task.get('error') or task}",
            hint="the node log (`mros opensearch logs`) has the stack trace",
        )
    return task


def deploy_model(client: Any, model_id: str, *, timeout: float = 300.0, poll: float = 1.0) -> dict[str, Any]:
    """Deploy a registered model on the cluster's nodes and wait until the deploy task completes."""
    answer = call(client, "POST", f"{ML}/models/{model_id}/_deploy")
    task_id = (answer or {}).get("task_id")
    if not task_id:
        raise MrosError(f"ML Commons did not start a deploy task for {model_id}: {answer}")
    kill_points.reached("model-deploying")
    return wait_for_task(client, task_id, timeout=timeout, poll=poll)


def wait_while_deploying(client: Any, model_id: str, *, timeout: float, poll: float) -> str:
    """Poll a model another deploy left DEPLOYING until it is in another state; returns that state."""
    model = poll_until(lambda: get_model(client, model_id), lambda m: m.get("model_state") != "DEPLOYING",
                       timeout=timeout, every=poll)
    if model.get("model_state") == "DEPLOYING":
        raise MrosError(f"model {model_id} stayed DEPLOYING for {timeout:.0f}s",
                        "see `GET /_plugins/_ml/profile/models` and the node log")
    return str(model.get("model_state"))


def ensure_deployed(client: Any, model_id: str, state: str, plan: WritePlan, *, timeout: float,
                    poll: float = 1.0) -> None:
    """Deploy the model (in ``state``) unless it is DEPLOYED: one left DEPLOYING (a deploy killed while its
    deploy task ran) is waited for first; otherwise ``_deploy`` is sent through ``plan`` and its task polled
    for ``timeout`` seconds."""
    if state == "DEPLOYING" and not plan.dry_run:
        state = wait_while_deploying(client, model_id, timeout=timeout, poll=poll)
    if state != "DEPLOYED":
        plan.write("POST", f"{ML}/models/{model_id}/_deploy", None,
                   lambda: deploy_model(client, model_id, timeout=timeout, poll=poll),
                   summary=f"then GET {ML}/tasks/<task_id> until COMPLETED (at most {timeout:.0f}s)")


def ensure_model(
    client: Any,
    package_dir: Path,
    *,
    name: str,
    model_group_id: str | None = None,
    plan: WritePlan | None = None,
    registration: Registration = Registration(),
    deploy_timeout: float = 600.0,
    poll: float = 1.0,
    space_type: str | None = None,
) -> str:
    """The deployed ML Commons model for the package in ``package_dir``; returns its model id.

    1. :func:`find_model`: the zip's SHA-256 is looked up, so the same package is never registered twice
       (ML Commons does not deduplicate); a model of ``model_group_id`` whose chunk upload never
       finished (REGISTERING, left by a deploy killed during the upload) is deleted first;
    2. :func:`register_package`, when no usable model has the hash, as ``registration`` says;
    3. :func:`ensure_deployed`: unless the model is DEPLOYED, ``_deploy`` is sent and its task polled for
       ``deploy_timeout`` s; a model still DEPLOYING (a deploy killed while its deploy task ran) is
       waited for.

    Writes go through ``plan`` (none: sent, recorded nowhere). In a dry run (``plan.dry_run``) only
    searches and GETs are sent and, when the model would be registered, ``"<model_id>"`` is returned.
    ``space_type`` (OpenSearch 3.1+) is registered as ``model_config.additional_config.space_type`` (it
    overrides ``registration.space_type``); a model found by its hash is reused as it is.
    """
    plan = plan if plan is not None else WritePlan()
    package = read_package(package_dir)
    found = find_model(client, package.sha256, model_group_id, plan)
    if found is not None:
        model_id, state = found["model_id"], str(found["model_state"])
    else:
        if space_type is not None:
            registration = dataclasses.replace(registration, space_type=space_type)
        model_id = register_package(client, package, plan, name=name, model_group_id=model_group_id,
                                    how=registration, poll=poll)
        state = "REGISTERED"
    ensure_deployed(client, model_id, state, plan, timeout=deploy_timeout, poll=poll)
    return model_id
