"""ML Commons client calls: register a local model by chunked upload, deploy it, predict, clean up.

All calls go through an ``opensearch-py`` client (``client.transport.perform_request``) so they
work against any cluster the caller is connected to. Asynchronous ML Commons tasks are polled with
tenacity until they reach a final state or a timeout, which is reported as a :class:`MrosError`
carrying the task's last answer.

API (ML Commons 2.x/3.x)::

    POST /_plugins/_ml/models/_register                 {name, version, model_format, model_config,
                                                         model_content_hash_value, model_content_size_in_bytes,
                                                         total_chunks, function_name}  -> {model_id}
    POST /_plugins/_ml/models/<id>/upload_chunk/<i>     raw bytes of chunk i
    POST /_plugins/_ml/models/<id>/_deploy              -> {task_id}
    GET  /_plugins/_ml/tasks/<task_id>                  -> {state: CREATED|RUNNING|COMPLETED|FAILED, ...}
    POST /_plugins/_ml/_predict/text_embedding/<id>     {text_docs: [...]}
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from mr_opensearch.errors import MrosError

ML = "/_plugins/_ml"
DEFAULT_CHUNK_BYTES = 10 * 1024 * 1024
FINAL_TASK_STATES = {"COMPLETED", "FAILED", "COMPLETED_WITH_ERROR", "CANCELLED"}


class TransientError(Exception):
    """An answer worth retrying (the model index is still being created, a 429, ...)."""


def _request(
    client: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    from opensearchpy.exceptions import ConnectionError as OsConnectionError
    from opensearchpy.exceptions import TransportError

    try:
        return client.transport.perform_request(method, path, body=body, headers=headers)
    except OsConnectionError as exc:
        raise TransientError(str(exc)) from exc
    except TransportError as exc:
        status = exc.status_code if isinstance(exc.status_code, int) else 0
        if status in (429, 502, 503, 504):
            raise TransientError(f"{status} {exc.info}") from exc
        raise MrosError(f"ML Commons {method} {path} failed: {status} {exc.error}: {exc.info}") from None


def call(
    client: Any, method: str, path: str, body: Any = None, *, timeout: float = 60.0, **kwargs: Any
) -> Any:
    """One request, retried on connection errors and 429/5xx answers for up to ``timeout`` seconds."""
    try:
        for attempt in Retrying(
            stop=stop_after_delay(timeout), wait=wait_fixed(1), retry=retry_if_exception_type(TransientError)
        ):
            with attempt:
                return _request(client, method, path, body, **kwargs)
    except RetryError as exc:
        raise MrosError(
            f"ML Commons {method} {path} kept failing for {timeout:.0f}s: {exc.last_attempt.exception()}"
        ) from None
    raise AssertionError("unreachable")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            yield block


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
    timeout: float = 300.0,
) -> str:
    """Register ``zip_path`` (model file + tokenizer.json) by chunked upload; return the model id."""
    size = zip_path.stat().st_size
    total_chunks = max(1, math.ceil(size / chunk_bytes))
    body: dict[str, Any] = {
        "name": name,
        "version": version,
        "model_format": model_format,
        "function_name": "TEXT_EMBEDDING",
        "model_content_hash_value": sha256 or sha256_of(zip_path),
        "model_content_size_in_bytes": size,
        "total_chunks": total_chunks,
        "model_config": model_config,
    }
    if description:
        body["description"] = description
    if model_group_id:
        body["model_group_id"] = model_group_id
    answer = call(client, "POST", f"{ML}/models/_register", body, timeout=timeout)
    model_id = answer.get("model_id")
    if not model_id and answer.get("task_id"):
        model_id = wait_for_task(client, answer["task_id"], timeout=timeout).get("model_id")
    if not model_id:
        raise MrosError(f"ML Commons did not return a model id for {name}: {answer}")
    for index, chunk in enumerate(_chunks(zip_path, chunk_bytes)):
        call(
            client,
            "POST",
            f"{ML}/models/{model_id}/upload_chunk/{index}",
            chunk,
            timeout=timeout,
            headers={"Content-Type": "application/octet-stream"},
        )
    return model_id


def get_task(client: Any, task_id: str) -> dict[str, Any]:
    return call(client, "GET", f"{ML}/tasks/{task_id}")


def wait_for_task(client: Any, task_id: str, *, timeout: float = 300.0, poll: float = 1.0) -> dict[str, Any]:
    """Poll an ML Commons task until it is final; MrosError when it failed or did not finish."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(poll),
        retry=retry_if_result(lambda answer: answer.get("state") not in FINAL_TASK_STATES),
    )
    try:
        task: dict[str, Any] = retrying(get_task, client, task_id)
    except RetryError as exc:
        last = exc.last_attempt.exception() if exc.last_attempt.failed else exc.last_attempt.result()
        raise MrosError(f"ML Commons task {task_id} did not finish within {timeout:.0f}s: {last}") from None
    if task.get("state") != "COMPLETED":
        raise MrosError(
            f"ML Commons task {task_id} ended {task.get('state')}: {task.get('error') or task}",
            hint="the node log (`mros opensearch logs`) has the stack trace",
        )
    return task


def deploy_model(client: Any, model_id: str, *, timeout: float = 300.0) -> dict[str, Any]:
    """Deploy a registered model on the cluster's nodes and wait until the deploy task completes."""
    answer = call(client, "POST", f"{ML}/models/{model_id}/_deploy", timeout=timeout)
    task_id = answer.get("task_id")
    if not task_id:
        raise MrosError(f"ML Commons did not start a deploy task for {model_id}: {answer}")
    return wait_for_task(client, task_id, timeout=timeout)


def get_model(client: Any, model_id: str) -> dict[str, Any]:
    return call(client, "GET", f"{ML}/models/{model_id}")


def embed(client: Any, model_id: str, texts: Sequence[str]) -> list[list[float]]:
    """Sentence embeddings from a deployed text-embedding model, one vector per text."""
    answer = call(
        client,
        "POST",
        f"{ML}/_predict/text_embedding/{model_id}",
        {"text_docs": list(texts), "return_number": True, "target_response": ["sentence_embedding"]},
    )
    vectors: list[list[float]] = []
    for result in answer.get("inference_results", []):
        outputs = {out.get("name"): out for out in result.get("output", [])}
        out = outputs.get("sentence_embedding") or next(iter(outputs.values()), None)
        if out is None:
            raise MrosError(f"ML Commons predict answer has no output: {result}")
        vectors.append([float(x) for x in out["data"]])
    if len(vectors) != len(texts):
        raise MrosError(f"ML Commons returned {len(vectors)} embeddings for {len(texts)} texts")
    return vectors


def undeploy_model(client: Any, model_id: str) -> None:
    call(client, "POST", f"{ML}/models/{model_id}/_undeploy")


def delete_model(client: Any, model_id: str) -> None:
    """Undeploy (if deployed) and delete a model."""
    with contextlib.suppress(MrosError):
        undeploy_model(client, model_id)
    call(client, "DELETE", f"{ML}/models/{model_id}")
