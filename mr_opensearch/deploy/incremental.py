"""Incremental deploys: a new catalog costs what changed, not the whole catalog again (issue #31).

A deploy builds a new index behind the alias as always (atomic move, ``mros rollback`` keeps working). When
the live index serves the same model with the same layout (:func:`reuse_source`), the documents of the new
catalog are compared with the live index's, by product id and by the exact ``embedding_text``
(:class:`LiveCopy`, one point-in-time read of the live index, :mod:`mr_opensearch.cluster.index_reader`):

* a product whose ``embedding_text`` is the live one's keeps the live vector: the new document (its other
  fields may have changed) is written with the vector read from the live index, and nothing is embedded;
* a new product, or one whose ``embedding_text`` changed, is embedded, as in a full deploy;
* a live product the catalog no longer has is left out (``removed``).

The result equals a full deploy of the new catalog: the same ids and fields, and the same model's vectors
of the same texts (derived source gives float32 values, which parse back to the same float32: the copy is
exact at index precision). A different model, embedding mode, analyzer, dimension, space type or field layout
means a full deploy, said in one line (:func:`why_full`); so does ``--full``, and a ``semantic`` field copied
by reading (its processor embeds every document written; a clone writes only the difference). A deploy killed at any point
resumes like any other: the incomplete index's missing documents are compared again and only those are
copied or embedded.

Three copy methods (``--copy``):

``clone`` (default)
    the new index starts as a ``_clone`` of the live index (its segments and vector graphs hard-linked, no
    document written again), and the difference is applied to it (:mod:`mr_opensearch.deploy.cloned_index`);
    when the layout differs in a static setting or the mapping, the deploy copies by ``read`` instead;
``read``
    the live documents are read with their vectors (PIT + ``search_after``) and bulk-written by mros, with
    ``pipeline: _none`` in engine mode so the ingest pipeline does not embed them again;
``reindex``
    the cluster copies the documents equal in every field itself: ``_reindex`` restricted to their ids,
    ``dest.pipeline: _none`` (the reference's advice for engine mode; no vector passes through mros). On
    OpenSearch 3.5.0 with k-NN 3.5.0, ``_reindex`` reads with a scroll, and a scroll breaks the source
    index's vector reads until the node restarts (:mod:`mr_opensearch.cluster.index_reader`): the live
    index, which ``mros rollback`` returns to, then fails every request that fetches its vectors. Use it on
    clusters without that bug.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mr_opensearch.cluster.index_reader import read_documents
from mr_opensearch.deploy.write_plan import WritePlan
from mr_opensearch.search.manifest import KNN_VECTOR_FIELD, Manifest, read_index_manifest

CopyMethod = Literal["clone", "read", "reindex"]
COPY_METHODS: tuple[str, ...] = ("clone", "read", "reindex")
REINDEX_CHUNK = 10_000
"""Ids per ``_reindex`` request (a ``terms`` query, at most ``index.max_terms_count``, 65,536 by default)."""
VECTOR_FIELD = KNN_VECTOR_FIELD
"""Where a ``knn_vector`` index holds a document's vector (the only layout incremental deploys copy)."""


def reuse_source(client: Any, manifest: Manifest, live: str | None, *, full: bool,
                 log: Callable[[str], None], clone: bool = False) -> Manifest | None:
    """The manifest of the live index whose vectors the deploy of ``manifest``'s index may reuse, or None (a
    full deploy; the one line that says why is logged). ``clone``: the new index would be a clone of the live
    one (nothing unchanged written again), which a ``semantic`` field allows."""
    if live is None or live == manifest.index:
        return None
    if full:
        log("deploy: --full: every product is embedded")
        return None
    found = read_index_manifest(client, live)
    reason = why_full(found, manifest, clone=clone)
    if reason:
        log(f"deploy: a full deploy: the live index {live} {reason}")
        return None
    return found


def why_full(live: Manifest | None, new: Manifest, clone: bool = False) -> str | None:
    """Why the vectors of the index ``live`` cannot serve the index ``new`` (None: they can); ``clone``: as a
    clone of ``live`` (a ``semantic`` field is then no reason: only the difference is written)."""
    if live is None:
        return "was not made by mros"
    if not live.complete:
        return "is incomplete"
    checks = [
        (live.embedding != new.embedding, f"is embedded in {live.embedding} mode, this deploy in {new.embedding} mode"),
        (live.model_sha256 != new.model_sha256 or bool(live.onnx_sha256 and live.onnx_sha256 != new.onnx_sha256),
         "serves another model"),
        (live.dimension != new.dimension, f"holds {live.dimension}-d vectors, the model makes {new.dimension}-d"),
        (live.space_type != new.space_type, f"uses space type {live.space_type}, not {new.space_type}"),
        (live.text_analyzer != new.text_analyzer, f"analyses text with {live.text_analyzer}, not {new.text_analyzer}"),
        (list(live.text_fields) != list(new.text_fields), "has other text fields"),
        (list(live.embedding_fields) != list(new.embedding_fields), "embeds other fields"),
        (live.vector_layout != new.vector_layout, f"stores vectors as {live.vector_layout}, not {new.vector_layout}"),
        (new.vector_layout == "semantic" and not clone, "uses a semantic field, whose processor embeds every "
                                                        "document written to a new index"),
    ]
    return next((why for failed, why in checks if failed), None)


@dataclass
class LiveCopy:
    """The documents of a deploy compared with the live index's: :meth:`actions` yields the bulk actions of
    the documents that keep their live vector (read with it from ``live``) and counts as it goes; after it,
    :attr:`to_embed` holds the new and edited documents.

    ``docs``: the documents the new index still needs (all of the catalog, or those a resumed index lacks);
    ``catalog_ids``: every product of the new catalog (to count the live ones it removes);
    ``engine``: copies are written with ``pipeline: _none`` (the ingest pipeline would embed them again)."""

    client: Any = field(repr=False)
    live: str
    index: str
    docs: Sequence[dict[str, Any]]
    catalog_ids: Sequence[str]
    engine: bool = False
    copied: int = 0
    """Documents written with the live vector of their text."""
    removed: int = 0
    """Live products the new catalog no longer has."""
    to_embed: list[dict[str, Any]] = field(default_factory=list)

    def actions(self) -> Iterator[dict[str, Any]]:
        wanted = {d["product_id"]: d for d in self.docs}
        catalog = set(self.catalog_ids)
        for hit in read_documents(self.client, self.live, source=True):
            pid = hit["_id"]
            if pid not in catalog:
                self.removed += 1
                continue
            doc = wanted.get(pid)
            old = hit.get("_source") or {}
            vector = old.get(VECTOR_FIELD)
            if doc is None or vector is None or old.get("embedding_text") != doc["embedding_text"]:
                continue
            del wanted[pid]
            self.copied += 1
            action = {"_index": self.index, "_id": pid, "_source": {**doc, VECTOR_FIELD: vector}}
            if self.engine:
                action["pipeline"] = "_none"
            yield action
        self.to_embed = list(wanted.values())


def unchanged_ids(client: Any, live: str, docs: Sequence[dict[str, Any]],
                  catalog_ids: Sequence[str]) -> tuple[list[str], list[dict[str, Any]], int]:
    """For ``--copy reindex``: the ids of ``docs`` whose live document is equal in every field (the cluster
    copies those), the documents to embed, and the number of live products the catalog removes. Reads the
    live documents without their vectors."""
    wanted = {d["product_id"]: d for d in docs}
    catalog = set(catalog_ids)
    fields = sorted({name for doc in docs for name in doc})
    same: list[str] = []
    removed = 0
    for hit in read_documents(client, live, source=fields or False):
        pid = hit["_id"]
        if pid not in catalog:
            removed += 1
        elif pid in wanted and (hit.get("_source") or {}) == wanted[pid]:
            same.append(pid)
            del wanted[pid]
    return same, list(wanted.values()), removed


def reindex_documents(client: Any, plan: WritePlan, live: str, index: str, ids: Sequence[str],
                      chunk: int = REINDEX_CHUNK) -> int:
    """The live documents ``ids`` copied with their vectors into ``index`` by the cluster (``_reindex``
    restricted to their ids, ``dest.pipeline: _none``, waiting for each chunk); returns how many it wrote."""
    copied = 0
    for start in range(0, len(ids), chunk):
        part = list(ids[start : start + chunk])
        body = {"source": {"index": live, "query": {"terms": {"product_id": part}}, "size": 1000},
                "dest": {"index": index, "pipeline": "_none"}}
        answer = plan.write("POST", "/_reindex", body,
                            lambda body=body: client.reindex(body=body, refresh=False, wait_for_completion=True,
                                                             request_timeout=600),
                            summary=f"copy {len(part)} unchanged documents with their vectors from {live}")
        if answer is not None:
            copied += int(answer.get("created", 0)) + int(answer.get("updated", 0))
    return copied


class PhaseClock:
    """Wall seconds per phase of a deploy (``copy``, ``embed and index``, ``refresh and complete``, ...), and
    how much each counter of ``counters`` grew during it: always this process's CPU seconds
    (``cpu_seconds``: mros's encoder threads included), plus any the caller adds (a benchmark adds the node's
    CPU seconds from ``_nodes/stats``)."""

    def __init__(self, counters: Mapping[str, Callable[[], float]] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.counters: dict[str, Callable[[], float]] = {"cpu_seconds": time.process_time, **(counters or {})}
        self.spent: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        before = {name: read() for name, read in self.counters.items()}
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - started, 3)
            spent = self.spent.setdefault(phase, {})
            for name, read in self.counters.items():
                spent[name] = round(spent.get(name, 0.0) + read() - before[name], 3)
