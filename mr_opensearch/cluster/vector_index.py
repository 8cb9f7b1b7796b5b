"""A k-NN index of the catalog with embeddings computed by mros (the exported int8 ONNX model).

This is the deploy path that works on every cluster with the k-NN plugin: vectors are computed next
to the data, not inside OpenSearch, and queries are embedded by the caller. (Embedding inside the
cluster needs ML Commons and neural search.)

Crash safety and idempotency:

* the index is named after the model and the catalog (``<prefix>-<model sha[:10]>-<catalog sha[:8]>``),
  so a new model never overwrites the index a live alias points at;
* documents use the product id as ``_id``: re-sending a batch after a crash overwrites, never duplicates;
* ``_meta.complete`` turns true only after every document is in and the index is refreshed; a rerun
  finds an incomplete index and finishes it, a complete one is left alone;
* the alias moves to the new index in one atomic ``_aliases`` call, after completion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mr_opensearch.core.catalog import catalog_fingerprint
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.templates import render

Encode = Callable[[list[str]], np.ndarray]


@dataclass
class IndexResult:
    index: str
    alias: str | None
    documents: int
    skipped: bool
    seconds: float
    encode_seconds: float
    dimension: int

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 and not self.skipped else 0.0


def index_name(prefix: str, model_sha: str, catalog_sha: str) -> str:
    return f"{prefix}-{model_sha[:10]}-{catalog_sha[:8]}".lower()


def _meta(client: Any, index: str) -> dict | None:
    if not client.indices.exists(index=index):
        return None
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]
    return mapping.get("_meta") or {}


def index_catalog(client: Any, ids: Sequence[str], texts: Sequence[str], encode: Encode, *, model_sha: str,
                  prefix: str = "mros-products", alias: str | None = "mros-products", batch_size: int = 256,
                  hnsw_m: int = 16, ef_construction: int = 128, ef_search: int = 100, progress: bool = False,
                  extra_meta: dict | None = None) -> IndexResult:
    """Create (or finish) the vector index of the catalog and point ``alias`` at it."""
    from opensearchpy import helpers

    if len(ids) != len(texts) or not ids:
        raise MrosError("the catalog to index is empty or its ids and texts differ in length", "check the catalog file")
    catalog_sha = catalog_fingerprint(ids, texts)
    name = index_name(prefix, model_sha, catalog_sha)
    start = time.time()
    meta = _meta(client, name)
    probe = encode([texts[0]])
    dim = int(probe.shape[1])
    if meta and meta.get("complete") and client.count(index=name)["count"] == len(ids):
        _point_alias(client, alias, name)
        return IndexResult(name, alias, len(ids), True, time.time() - start, 0.0, dim)
    if meta is not None and (meta.get("model_sha256") != model_sha or int(meta.get("dimension", -1)) != dim):
        raise MrosError(f"index {name} exists with another model or dimension",
                        f"delete it (`DELETE /{name}`) and rerun")
    if meta is None:
        body = render("mappings", "product-vectors", dimension=dim, ef_search=ef_search, shards=1, replicas=0,
                      hnsw_m=hnsw_m, ef_construction=ef_construction,
                      meta={"model_sha256": model_sha, "catalog_sha256": catalog_sha, "dimension": dim,
                            "documents": len(ids), "complete": False, **(extra_meta or {})})
        client.indices.create(index=name, body=body)
    encode_seconds = 0.0

    def actions() -> Iterator[dict]:
        nonlocal encode_seconds
        for s in range(0, len(ids), batch_size):
            t = time.time()
            vectors = encode(list(texts[s : s + batch_size]))
            encode_seconds += time.time() - t
            if vectors.shape[1] != dim:
                raise MrosError(f"the encoder returned {vectors.shape[1]}-d vectors, the index holds {dim}-d",
                                "use one exported model for the whole index")
            for pid, text, vec in zip(ids[s : s + batch_size], texts[s : s + batch_size], vectors, strict=True):
                yield {"_index": name, "_id": pid, "_source": {"product_id": pid, "title": text,
                                                                 "embedding": [round(float(x), 6) for x in vec]}}

    bar = None
    if progress:
        from tqdm.auto import tqdm

        from mr_opensearch.core.console import console_stream

        bar = tqdm(total=len(ids), desc=f"indexing {name}", unit="doc", file=console_stream())
    failed = 0
    first_error: Any = None
    for ok, item in helpers.streaming_bulk(client, actions(), chunk_size=batch_size, raise_on_error=False,
                                           max_retries=3, initial_backoff=1):
        if not ok:
            failed += 1
            if failed <= 3:
                first_error = item
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if failed:
        raise MrosError(f"{failed} documents were rejected by {name}; first: {first_error}",
                        "fix the cause and rerun: accepted documents are kept and the rest are sent again")
    client.indices.refresh(index=name)
    count = client.count(index=name)["count"]
    if count != len(ids):
        raise MrosError(f"{name} holds {count} documents, expected {len(ids)}", "rerun to finish the index")
    client.indices.put_mapping(index=name, body={"_meta": {**(_meta(client, name) or {}), "complete": True}})
    _point_alias(client, alias, name)
    return IndexResult(name, alias, len(ids), False, time.time() - start, encode_seconds, dim)


def _point_alias(client: Any, alias: str | None, index: str) -> None:
    """Move ``alias`` to ``index`` atomically (removing it from any other index)."""
    if not alias:
        return
    actions: list[dict] = []
    if client.indices.exists_alias(name=alias):
        for other in client.indices.get_alias(name=alias):
            if other != index:
                actions.append({"remove": {"index": other, "alias": alias}})
    actions.append({"add": {"index": index, "alias": alias}})
    client.indices.update_aliases(body={"actions": actions})


def knn_search(client: Any, index: str, vector: np.ndarray, k: int = 100, min_score: float | None = None) -> dict:
    """A ``knn`` query on ``embedding``; ``min_score`` (OpenSearch score, ``(1 + cos) / 2``) makes it radial."""
    clause: dict[str, Any] = {"vector": [float(x) for x in vector]}
    if min_score is None:
        clause["k"] = k
    else:
        clause["min_score"] = min_score
    return client.search(index=index, body={"size": k, "_source": ["product_id"], "query": {"knn": {"embedding": clause}}})
