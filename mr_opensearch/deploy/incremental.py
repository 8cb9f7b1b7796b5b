"""Incremental deploys: a new catalog costs what changed, not the whole catalog again (issue #31).

A deploy builds a new index behind the alias as always (atomic move, ``mros rollback`` keeps working), but
when the live index serves the same model with the same layout (:func:`reuse_source`), the documents of
the new catalog are split by comparing them with the live index's (:func:`split_documents`: one scroll of
the live documents' fields, without their vectors):

* **unchanged** (every field equal): copied with their vectors by the cluster itself, ``_reindex``
  restricted to their ids (:func:`copy_documents`), no byte of a vector through mros;
* **same text** (the embedded text equal, another field changed, e.g. a BM25-only column): the new
  document with the live vector (``_mget`` of those vectors);
* **new or edited** (the embedded text differs, or the id is new): embedded, as in a full deploy.

Products gone from the catalog are simply not copied. The result equals a full deploy of the new catalog:
the same ids and fields, and vectors that are the same model's vectors of the same texts. A different
model, analyzer, dimension, embedding mode or field layout means a full deploy, said in one line; so does
``--full``. A deploy killed at any point resumes like any other: the incomplete index's missing
documents are split again and only those are copied or embedded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mr_opensearch.deploy.write_plan import WritePlan
from mr_opensearch.search.manifest import Manifest, read_index_manifest

COPY_CHUNK = 10_000
"""Ids per ``_reindex`` request (a ``terms`` query, below ``index.max_terms_count``; the cluster copies them)."""
VECTOR_FIELD = "embedding"


@dataclass
class Split:
    """The documents of a deploy, by what they cost."""

    copy: list[str] = field(default_factory=list)
    """Ids whose live document is equal in every field: copied by ``_reindex``."""
    same_text: list[dict[str, Any]] = field(default_factory=list)
    """Documents whose embedded text is the live one's but another field changed: the live vector reused."""
    embed: list[dict[str, Any]] = field(default_factory=list)
    """New or edited documents: embedded."""
    removed: int = 0
    """Live products the new catalog no longer has (not copied)."""


def reuse_source(client: Any, manifest: Manifest, live: str | None, *, full: bool,
                 log: Callable[[str], None]) -> tuple[str, Manifest] | None:
    """The live index whose vectors the deploy of ``manifest``'s index may reuse, or None (a full deploy,
    and the one line that says why)."""
    if full:
        log("deploy: --full: every product is embedded")
        return None
    if live is None or live == manifest.index:
        return None
    found = read_index_manifest(client, live)
    reason = _why_not(found, manifest)
    if reason:
        log(f"deploy: a full deploy: the live index {live} {reason}")
        return None
    return live, found  # type: ignore[return-value]


def _why_not(live: Manifest | None, new: Manifest) -> str | None:
    if live is None:
        return "was not made by mros"
    if not live.complete:
        return "is incomplete"
    checks = [
        (live.embedding != "client" or new.embedding != "client", "is embedded in the engine (incremental deploys "
                                                                  "copy client-mode vectors)"),
        (live.model_sha256 != new.model_sha256 or (live.onnx_sha256 and live.onnx_sha256 != new.onnx_sha256),
         "serves another model"),
        (live.dimension != new.dimension, "holds vectors of another dimension"),
        (live.space_type != new.space_type, "uses another space type"),
        (live.text_analyzer != new.text_analyzer, f"analyses text with {live.text_analyzer}, not {new.text_analyzer}"),
        (list(live.text_fields) != list(new.text_fields), "has other text fields"),
        (list(live.embedding_fields) != list(new.embedding_fields), "embeds other fields"),
        (getattr(live, "vector_layout", "knn_vector") != getattr(new, "vector_layout", "knn_vector"),
         "has another vector layout"),
    ]
    return next((why for failed, why in checks if failed), None)


def split_documents(client: Any, live: str, docs: Sequence[dict[str, Any]], catalog_ids: Sequence[str]) -> Split:
    """``docs`` split against the live index's documents (:class:`Split`); reads only."""
    from opensearchpy import helpers

    fields = sorted({name for doc in docs for name in doc} | {"product_id", "title", "embedding_text"})
    query = {"_source": fields, "query": {"match_all": {}}}
    present = {hit["_id"]: hit.get("_source") or {} for hit in
               helpers.scan(client, index=live, query=query, size=5000, scroll="2m")}
    split = Split(removed=len(set(present) - set(catalog_ids)))
    for doc in docs:
        old = present.get(doc["product_id"])
        if old is None or old.get("embedding_text") != doc["embedding_text"]:
            split.embed.append(doc)
        elif all(old.get(name) == value for name, value in doc.items()) and set(old) <= set(doc):
            split.copy.append(doc["product_id"])
        else:
            split.same_text.append(doc)
    return split


def copy_documents(client: Any, plan: WritePlan, live: str, index: str, ids: Sequence[str],
                   chunk: int = COPY_CHUNK) -> int:
    """The live documents ``ids`` copied with their vectors into ``index`` by the cluster (``_reindex``,
    waiting for each chunk); returns how many the cluster wrote."""
    copied = 0
    for start in range(0, len(ids), chunk):
        part = list(ids[start : start + chunk])
        # ``terms`` on the keyword product_id (= ``_id``): on 3.5 a top-level ``ids`` query fails under the
        # scroll that _reindex reads with ("all shards failed", no cause logged)
        body = {"source": {"index": live, "query": {"terms": {"product_id": part}}, "size": 1000},
                "dest": {"index": index}}
        answer = plan.write("POST", "/_reindex", None,
                            lambda body=body: client.reindex(body=body, refresh=False, wait_for_completion=True,
                                                             request_timeout=600),
                            summary=f"copy {len(part)} unchanged documents with their vectors from {live}")
        if answer is not None:
            copied += int(answer.get("created", 0)) + int(answer.get("updated", 0))
    return copied


def live_vectors(client: Any, live: str, ids: Sequence[str], chunk: int = 1000) -> dict[str, list[float]]:
    """The vectors of ``ids`` in the live index (``_mget`` of the vector field only)."""
    found: dict[str, list[float]] = {}
    for start in range(0, len(ids), chunk):
        answer = client.mget(index=live, body={"ids": list(ids[start : start + chunk])},
                             params={"_source_includes": VECTOR_FIELD})
        for doc in answer.get("docs", []):
            if doc.get("found"):
                found[doc["_id"]] = doc["_source"][VECTOR_FIELD]
    return found


class PhaseClock:
    """Wall seconds per phase of a deploy (``compare``, ``copy``, ``embed and index``, ...)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - started, 3)
