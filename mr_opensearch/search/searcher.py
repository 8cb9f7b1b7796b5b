"""Searching the index behind an alias from an application: the searcher an application (or ``mros
serve``) holds for its whole life.

    from mr_opensearch import Searcher, connect_cluster

    searcher = Searcher(connect_cluster("http://localhost:9200"), "products")
    result = searcher.search("cordless drill", mode="hybrid", k=10, min_grade="partial")
    for hit in result.hits:
        print(hit.product_id, hit.title, hit.score, hit.grade)
    result.index, result.model_sha256        # the index that answered, the model that embedded the query

**A query is never embedded by one model and answered by an index of another.** Each search reads
which index the alias points at (cached for ``resolve_every`` seconds, so a busy application does not
ask the cluster on every request), embeds the query with *that* index's model (client mode: the
encoder for the manifest's model, cached per model hash and checked against it; engine mode: the
manifest's ``model_id``, or, on an index of the ``semantic`` layout, no model id at all: neural-search
embeds with the model that index's mapping names), and sends the search to that index by name, not to
the alias. A deploy that
moves the alias therefore cannot split one request between two models: a request resolved just before
the move is answered by the old index, with the old model, and the next resolution sees the new one.
When the resolved index is gone (deleted after a move), the alias is resolved again and the search is
retried once.

Thread-safe: one searcher serves any number of threads; the cluster client is shared (its connection
pool bounds the parallel requests) and each encoder is loaded once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.search.fusion import HybridSettings
from mr_opensearch.search.manifest import Manifest
from mr_opensearch.search.queries import (
    DEFAULT_MAX_WINDOW,
    QueryEmbedder,
    SearchResult,
    check_request,
    live_index,
    search_index,
)


@dataclass(frozen=True)
class LiveIndex:
    """What the alias pointed at when it was last resolved."""

    index: str
    manifest: Manifest
    max_result_window: int
    resolved_at: float

    @property
    def model_key(self) -> str:
        """Which model embeds for this index: the ONNX file's hash when recorded, else the package hash."""
        return self.manifest.onnx_sha256 or self.manifest.model_sha256


class Searcher:
    """Searches the index behind ``alias`` on ``client`` (see the module docstring).

    Args:
        client: an ``opensearch-py`` client (``mr_opensearch.connect_cluster`` makes one with retries).
        alias: the alias ``mros deploy`` moves.
        resolve_every: seconds a resolution of the alias is reused; 0 resolves on every search.
        model: client mode, a served model folder to embed queries with instead of the index's served
            copy (checked against the index's model all the same).
        run: client mode, a run directory whose ``onnx/`` embeds queries (checked likewise).
        clock: the time source (tests).
    """

    def __init__(self, client: Any, alias: str, *, resolve_every: float = 1.0, model: Path | None = None,
                 run: Path | None = None, clock: Any = time.monotonic) -> None:
        self.client = client
        self.alias = alias
        self.resolve_every = resolve_every
        self._model, self._run = model, run
        self._clock = clock
        self._lock = threading.Lock()
        self._live: LiveIndex | None = None
        self._embedders: dict[str, QueryEmbedder] = {}

    # ------------------------------------------------------------------------------------------ resolving

    def live(self, refresh: bool = False) -> LiveIndex:
        """The index behind the alias and its manifest, resolved at most every ``resolve_every`` seconds."""
        with self._lock:
            now = self._clock()
            if refresh or self._live is None or now - self._live.resolved_at >= self.resolve_every:
                index, manifest = live_index(self.client, self.alias)
                self._live = LiveIndex(index, manifest, self._max_window(index), now)
            return self._live

    def _max_window(self, index: str) -> int:
        settings = self.client.indices.get_settings(index=index, name="index.max_result_window",
                                                    include_defaults=True)
        body = settings.get(index) or next(iter(settings.values()), {})
        for part in ("settings", "defaults"):
            value = (body.get(part) or {}).get("index", {}).get("max_result_window")
            if value is not None:
                return int(value)
        return DEFAULT_MAX_WINDOW

    def embedder(self, live: LiveIndex) -> QueryEmbedder:
        """The query encoder of ``live``'s model (client mode), loaded once per model hash. A searcher lives
        long, so an OpenVINO encoder also gets its single-query models of fixed shapes, compiled in the
        background (:meth:`~mr_opensearch.core.openvino_encoder.OpenVinoEncoder.compile_static_shapes`)."""
        with self._lock:
            found = self._embedders.get(live.model_key)
            if found is None:
                found = QueryEmbedder(live.manifest, model=self._model, run=self._run)
                encoder = found.encoder  # load and check the model now, not inside a timed search
                if hasattr(encoder, "compile_static_shapes"):
                    encoder.compile_static_shapes()
                self._embedders[live.model_key] = found
            return found

    def ready(self) -> LiveIndex:
        """Resolve the alias now and load its encoder (client mode): what a readiness probe asks."""
        live = self.live(refresh=True)
        if live.manifest.embedding == "client":
            self.embedder(live)
        return live

    # ------------------------------------------------------------------------------------------- searching

    def search(self, query: str, mode: str = "hybrid", k: int = 10, min_grade: str | None = None,
               settings: HybridSettings | None = None) -> SearchResult:
        """One search; the result names the index that answered (``index``) and the model that embedded
        the query (``extra["model_sha256"]``, ``extra["onnx_sha256"]``)."""
        live = self.live()
        text = check_request(query, mode, k, min_grade, live.max_result_window)
        try:
            return self._search_on(live, text, mode, k, min_grade, settings)
        except _IndexGone:
            return self._search_on(self.live(refresh=True), text, mode, k, min_grade, settings)

    def _search_on(self, live: LiveIndex, query: str, mode: str, k: int, min_grade: str | None,
                   settings: HybridSettings | None) -> SearchResult:
        from opensearchpy.exceptions import NotFoundError

        manifest = live.manifest
        embedder = self.embedder(live) if mode != "bm25" and manifest.embedding == "client" else None
        try:
            result = search_index(self.client, self.alias, live.index, manifest, query, mode=mode, k=k,
                                  min_grade=min_grade, embedder=embedder, settings=settings)
        except NotFoundError as exc:
            raise _IndexGone(live.index) from exc
        except MrosError as exc:
            if "index_not_found_exception" in exc.message or "no such index" in exc.message:
                raise _IndexGone(live.index) from exc
            raise
        result.extra.update({"model_sha256": manifest.model_sha256, "onnx_sha256": manifest.onnx_sha256,
                             "model_id": manifest.model_id})
        return result


class _IndexGone(Exception):
    """The resolved index vanished between resolving the alias and searching it."""
