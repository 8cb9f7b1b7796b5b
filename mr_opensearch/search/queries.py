"""Querying a deployed mros index: BM25, dense and hybrid, in both embedding modes.

The index behind an alias carries its :class:`~mr_opensearch.search.manifest.Manifest` in ``_meta``; it says
how to query it:

* **bm25**: ``multi_match`` (``best_fields``) over ``manifest.text_fields``;
* **dense**: client mode embeds the query with the served ONNX model (``manifest.model_dir``, or
  ``model`` / ``run``, the CLI's ``--model DIR`` / ``--run RUN``) and sends ``knn``; engine mode sends ``neural``
  (:func:`engine_dense_query`): on an index of the ``semantic`` layout (OpenSearch 3.1+) on the semantic
  field ``embedding_text`` *without* a ``model_id``, so neural-search embeds the query with the model its
  mapping names, index by index (an alias moved onto an index of another model stays consistent); on a
  ``knn_vector`` index on ``embedding`` with ``manifest.model_id``. ``min_grade`` makes it radial:
  ``min_score`` = the grade's boundary in engine score (lucene ``cosinesimil``: ``(1 + cos) / 2``), sent
  instead of ``k`` (k-NN takes exactly one);
* **hybrid**: the BM25 leg and the dense leg, each retrieving ``pagination_depth`` documents, min-max
  normalised with the dense leg's lower bound and combined by a weighted arithmetic mean
  (:func:`mr_opensearch.search.fusion.fuse`, the neural-search 3.5 formulas). Engine mode sends one ``hybrid``
  query through the index's search pipeline (``pagination_depth`` inside ``hybrid``, the combined-score
  cut-off as the top-level ``min_score``); client mode sends both legs in one ``_msearch`` and fuses
  them here, so both modes rank identically for the same leg results.

Grade badges: a dense hit's grade is the highest boundary its engine score reaches; a hybrid hit takes
the badge of its dense-leg raw score, ``—`` when the document was not in the dense leg (or, in engine
mode, where neural-search returns only the combined score); BM25 scores have no boundaries (``—``).
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.search.fusion import HybridSettings, fuse, fuse_explained
from mr_opensearch.search.manifest import Manifest, read_index_manifest

Mode = Literal["bm25", "dense", "hybrid"]
MinGrade = Literal["partial", "exact"]
MODES: tuple[str, ...] = ("bm25", "dense", "hybrid")
SOURCE_FIELDS = ["product_id", "title"]
VECTOR_FIELD = "embedding"
NO_BADGE = None
"""A hit's ``grade`` when it has no badge (BM25 hits, an index without boundaries); "—" in human output."""
BADGE_PLACEHOLDER = "—"


# --------------------------------------------------------------------------------------------- the index


def live_index(client: Any, alias: str) -> tuple[str, Manifest]:
    """The one index behind ``alias`` and its mros manifest."""
    from opensearchpy.exceptions import NotFoundError

    hint = f"deploy first: mros deploy --run RUN --catalog FILE --alias {alias}"
    try:
        found = client.indices.get_alias(name=alias)
    except NotFoundError:
        raise MrosError(f"alias {alias} not found on the cluster", hint) from None
    indices = sorted(found)
    if not indices:
        raise MrosError(f"alias {alias} not found on the cluster", hint)
    if len(indices) > 1:
        raise MrosError(f"alias {alias} points at {len(indices)} indices ({', '.join(indices)})",
                        "point it at exactly one: `mros rollback --alias ...` or fix it with `POST /_aliases`")
    index = indices[0]
    manifest = read_index_manifest(client, index)
    if manifest is None:
        raise MrosError(f"alias {alias} points at {index}, which has no mros manifest in its _meta",
                        f"mros searches only indices it deployed; {hint}")
    return index, manifest


def default_settings(manifest: Manifest) -> HybridSettings:
    """The hybrid settings the index was deployed with."""
    return HybridSettings(**manifest.hybrid)


MAX_QUERY_CHARS = 1000
"""Longer queries are refused: the model reads at most 128 tokens of a query, and BM25 over a page of text
is not a shopper's query."""
DEFAULT_MAX_WINDOW = 10_000
"""OpenSearch's default ``index.max_result_window``."""


class SearchInputError(UsageError):
    """A search request that cannot be answered as asked (unknown mode, k out of range, an empty or
    oversized query): the caller's mistake, exit code 2 / HTTP 400. ``parameter`` names the input."""

    def __init__(self, parameter: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, parameters=parameter)
        self.parameter = parameter


def check_request(query: str, mode: str, k: int, min_grade: str | None, window: int) -> str:
    """The query, stripped, when the request can be answered; :class:`SearchInputError` otherwise."""
    if mode not in MODES:
        raise SearchInputError("mode", f"unknown search mode {mode!r}", f"use one of {', '.join(MODES)}")
    if not isinstance(k, int) or k < 1 or k > window:
        raise SearchInputError("k", f"k {k}: must be between 1 and {window} (the index's max_result_window)",
                               "ask for fewer hits")
    if min_grade is not None and min_grade not in ("partial", "exact"):
        raise SearchInputError("min_grade", f"unknown grade {min_grade!r}", "use partial or exact")
    if mode == "bm25" and min_grade is not None:
        raise SearchInputError("min_grade", "min_grade applies to the dense leg; BM25 scores have no grade boundaries",
                               "use mode dense or hybrid")
    text = query.strip() if isinstance(query, str) else ""
    if not text:
        raise SearchInputError("q", "the query is empty", "send a non-empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchInputError("q", f"the query has {len(text)} characters (at most {MAX_QUERY_CHARS})",
                               "send a shorter query")
    return text



# --------------------------------------------------------------------------------------- query embedding


def served_copy_dir(manifest: Manifest) -> Path:
    """The served copy a manifest names, on this machine: the deploying machine's folder where it exists
    here, else this machine's ``$MROS_HOME/models/<model sha>`` (a copy of the same model, made by a
    deploy or search from this machine)."""
    from mr_opensearch.core.paths import user_dir

    directory = Path(str(manifest.model_dir))
    here = user_dir() / "models" / directory.name
    return here if not directory.is_dir() and here.is_dir() else directory


def resolve_model_dir(manifest: Manifest, model: Path | None = None, run: Path | None = None) -> Path:
    """Where the query encoder lives: ``model`` (a served model folder), else ``run``'s ``RUN/onnx``, else the
    manifest's served copy."""
    if model is not None and run is not None:
        raise UsageError("{model} and {run} both given", "pass only one of them", parameters=("model", "run"))
    if model is not None:
        directory, origin = Path(model), "{model}"
    elif run is not None:
        directory, origin = Path(run) / "onnx", "{run}"
    elif manifest.model_dir:
        directory, origin = served_copy_dir(manifest), "the index manifest"
    else:
        raise MrosError(f"index {manifest.index} records no served model directory",
                        "pass {model} DIR (the served ONNX + tokenizer) or {run} RUN", parameters=("model", "run"))
    if not directory.is_dir():
        raise MrosError(f"the served model {directory} (from {origin}) is gone",
                        "pass {model} DIR or {run} RUN, or redeploy with `mros deploy --run RUN`",
                        parameters=("model", "run"))
    return directory


QUERY_PAD_MULTIPLE = {"openvino-int8": 8}
"""Query token counts rounded up to a multiple of this, per encoder variant. OpenVINO's int8 CPU kernels run
a sequence whose length is a multiple of 8 faster than a shorter odd one: on 600 Home Depot queries (6 tokens
at the median, 16 at most), batch 1, one thread, p50 3.41 ms unpadded and 2.49 ms padded to 8 in a fresh
process; 4.43 and 4.26 ms in the encoder benchmark's worker, after its throughput rounds (docs/benchmarks.md). The padded tokens are masked; the vectors agree with the unpadded ones to a mean cosine
of 0.9999993 (least 0.99958), and the top 10 of each query over 10,934 products was the same, in the same
order, for all 600 (a deploy's batches vary a title's vector as much: least cosine 0.99992 to the title
embedded alone). onnxruntime's int8 export quantizes activations per batch, so padding would move its
vectors: it is not padded."""


@functools.lru_cache(maxsize=4)
def load_query_encoder(directory: str, variant: str | None) -> Any:
    """The query encoder of a served model: one runtime thread that sleeps when idle. A query is a few
    tokens (splitting it over threads gains nothing), and spinning idle threads would take the CPU from the
    cluster node and the other requests on a small machine. Queries are padded as
    :data:`QUERY_PAD_MULTIPLE` says for the variant."""
    from mr_opensearch.core.encoder_package import load_served_encoder

    encoder = load_served_encoder(Path(directory), threads=1, variant=variant, spinning=False)
    encoder.pad_to_multiple = QUERY_PAD_MULTIPLE.get(encoder.variant, 1)
    return encoder


class QueryEmbedder:
    """Embeds query strings with the index's served ONNX model (client mode); the encoder is loaded once."""

    def __init__(self, manifest: Manifest, model: Path | None = None, run: Path | None = None) -> None:
        self.model_dir = resolve_model_dir(manifest, model, run)
        self.manifest = manifest
        self.dimension = manifest.dimension
        self._encoder: Any = None

    @property
    def encoder(self) -> Any:
        """The encoder, loaded on first use once its model is checked to be the index's
        (:func:`~mr_opensearch.search.served_model.check_model_identity`): of a run's export folder, the
        variant the index was built with is taken."""
        if self._encoder is None:
            from mr_opensearch.core.encoder_package import served_files
            from mr_opensearch.search.served_model import check_model_identity

            wanted = self.manifest.encoder_variant
            variant = wanted if wanted and (self.model_dir / wanted).is_dir() else None
            onnx, _tokenizer, meta = served_files(self.model_dir, variant)
            check_model_identity(self.manifest, onnx, meta, str(self.model_dir))
            self._encoder = load_query_encoder(str(self.model_dir.resolve()), variant)
        return self._encoder

    def encode(self, queries: Sequence[str], batch_size: int = 64) -> np.ndarray:
        vectors = np.asarray(self.encoder.encode(list(queries), batch_size=batch_size), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise MrosError(f"the model in {self.model_dir} gives {vectors.shape[-1]}-d vectors, the index holds "
                            f"{self.dimension}-d", "use the model the index was deployed with ({model} / {run})",
                            parameters=("model", "run"))
        return vectors


# ------------------------------------------------------------------------------------------ request bodies


def bm25_query(query: str, fields: Sequence[str]) -> dict[str, Any]:
    return {"multi_match": {"query": query, "fields": list(fields), "type": "best_fields"}}


def _radial_or_k(k: int, min_score: float | None) -> dict[str, Any]:
    """k-NN takes exactly one of ``k`` and ``min_score``."""
    return {"min_score": float(min_score)} if min_score is not None else {"k": int(k)}


def bm25_body(query: str, fields: Sequence[str], size: int) -> dict[str, Any]:
    return {"size": int(size), "_source": list(SOURCE_FIELDS), "query": bm25_query(query, fields)}


def knn_query(vector: Sequence[float] | np.ndarray, k: int, min_score: float | None = None) -> dict[str, Any]:
    return {"knn": {VECTOR_FIELD: {"vector": [float(x) for x in vector], **_radial_or_k(k, min_score)}}}


def knn_body(vector: Sequence[float] | np.ndarray, k: int, size: int, min_score: float | None = None) -> dict[str, Any]:
    return {"size": int(size), "_source": list(SOURCE_FIELDS), "query": knn_query(vector, k, min_score)}


def neural_query(query: str, model_id: str | None, k: int, min_score: float | None = None,
                 field: str = VECTOR_FIELD) -> dict[str, Any]:
    """A ``neural`` clause on ``field``; without ``model_id`` (a ``semantic`` field) neural-search takes the
    model from the index mapping (query ``model_id`` > mapping ``search_model_id`` > mapping ``model_id``)."""
    clause: dict[str, Any] = {"query_text": query}
    if model_id is not None:
        clause["model_id"] = model_id
    return {"neural": {field: {**clause, **_radial_or_k(k, min_score)}}}


def neural_body(query: str, model_id: str | None, k: int, size: int, min_score: float | None = None,
                field: str = VECTOR_FIELD) -> dict[str, Any]:
    return {"size": int(size), "_source": list(SOURCE_FIELDS),
            "query": neural_query(query, model_id, k, min_score, field)}


def engine_dense_query(manifest: Manifest, query: str, k: int, min_score: float | None = None) -> dict[str, Any]:
    """The engine-mode dense clause of ``manifest``'s index: ``neural`` on the semantic field with no model id
    (``semantic`` layout), or on ``embedding`` with the manifest's ``model_id`` (``knn_vector`` layout)."""
    if manifest.vector_layout == "semantic":
        return neural_query(query, None, k, min_score, manifest.neural_field)
    if not manifest.model_id:
        raise MrosError(f"index {manifest.index} is in engine mode but records no model id",
                        "redeploy with `mros deploy --embedding engine`")
    return neural_query(query, manifest.model_id, k, min_score, manifest.neural_field)


def engine_dense_body(manifest: Manifest, query: str, k: int, size: int,
                      min_score: float | None = None) -> dict[str, Any]:
    return {"size": int(size), "_source": list(SOURCE_FIELDS),
            "query": engine_dense_query(manifest, query, k, min_score)}


def hybrid_body_engine(query: str, manifest: Manifest, settings: HybridSettings, size: int,
                       dense_min_score: float | None = None) -> dict[str, Any]:
    """One ``hybrid`` query for the index's search pipeline (send with ``search_pipeline``); its dense leg is
    :func:`engine_dense_query` (no model id on a ``semantic`` index)."""
    depth = int(settings.pagination_depth)
    body: dict[str, Any] = {
        "size": int(size),
        "_source": list(SOURCE_FIELDS),
        "query": {"hybrid": {"pagination_depth": depth,
                             "queries": [bm25_query(query, manifest.text_fields),
                                         engine_dense_query(manifest, query, depth, dense_min_score)]}},
    }
    if settings.min_score is not None:
        body["min_score"] = float(settings.min_score)
    return body


def msearch_lines(index: str, bodies: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``_msearch`` body: a header line naming the index before each search body."""
    lines: list[dict[str, Any]] = []
    for body in bodies:
        lines.extend([{"index": index}, body])
    return lines


# ------------------------------------------------------------------------------------------------- results


@dataclass
class Hit:
    rank: int
    product_id: str
    title: str | None
    score: float
    grade: str | None
    bm25_score: float | None = None
    dense_score: float | None = None
    bm25_normalized: float | None = None
    """Hybrid, client mode: the BM25 leg's min-max normalized score (None where that leg missed the hit)."""
    dense_normalized: float | None = None
    """Hybrid, client mode: the dense leg's normalized score, with its lower bound."""


@dataclass
class SearchResult:
    alias: str
    index: str
    mode: str
    embedding: str
    query: str
    k: int
    hits: list[Hit]
    took_ms: float
    """The server's ``took`` (for ``_msearch``, the whole round trip on the server)."""
    wall_ms: float
    """Client-side time of the search request(s), query embedding excluded."""
    embed_ms: float | None
    requests: list[dict[str, Any]]
    radial_min_score: float | None = None
    settings: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [h.product_id for h in self.hits]

    def to_json(self, requests: bool = False) -> dict[str, Any]:
        """The result as JSON (a hit without a grade badge has ``grade`` null); the requests sent (a dense
        query carries its whole vector) only with ``requests``."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("hits", "requests", "extra")}
        out["hits"] = [dict(vars(hit)) for hit in self.hits]
        out["extra"] = dict(self.extra)
        if requests:
            out["requests"] = copy.deepcopy(self.requests)
        return out


def _pid(hit: dict[str, Any]) -> str:
    source = hit.get("_source") or {}
    return str(source.get("product_id", hit.get("_id")))


def leg_hits(response: dict[str, Any]) -> list[tuple[str, float]]:
    """``(product id, raw score)`` of one search response, in rank order."""
    return [(_pid(h), float(h["_score"])) for h in response["hits"]["hits"]]


def _titles(*responses: dict[str, Any]) -> dict[str, str | None]:
    titles: dict[str, str | None] = {}
    for response in responses:
        for h in response["hits"]["hits"]:
            titles.setdefault(_pid(h), (h.get("_source") or {}).get("title"))
    return titles


def fused_from_raw(bm25_response: dict[str, Any], knn_response: dict[str, Any],
                   settings: HybridSettings) -> list[tuple[str, float]]:
    """The client-side hybrid ranking from the two legs' raw responses (what engine mode computes)."""
    return fuse([leg_hits(bm25_response), leg_hits(knn_response)], settings)


def _badge(manifest: Manifest, dense_score: float | None) -> str | None:
    if dense_score is None or manifest.boundaries is None:
        return NO_BADGE
    return manifest.boundaries.grade_of_score(dense_score)


def radial_min_score(manifest: Manifest, min_grade: str | None) -> float | None:
    if min_grade is None:
        return None
    if manifest.boundaries is None:
        raise MrosError(f"index {manifest.index} has no grade boundaries, so {{min_grade}} has nothing to cut at",
                        "deploy a run with boundaries.json (`mros train` writes it)", parameters=("min_grade",))
    return manifest.boundaries.min_score(min_grade)


def _check(response: dict[str, Any], what: str) -> dict[str, Any]:
    """``response`` when it is a whole answer; an error answer, or a partial one (some shards failed, so
    products of those shards are missing from the hits), raises."""
    if "error" in response:
        error = response["error"]
        reason = error.get("reason") if isinstance(error, dict) else error
        raise MrosError(f"the {what} search failed: {reason}", "rerun with --debug; check the index with `mros status`")
    shards = response.get("_shards") or {}
    if int(shards.get("failed") or 0) > 0:
        failure = (shards.get("failures") or [{}])[0]
        reason = (failure.get("reason") or {}).get("reason") if isinstance(failure.get("reason"), dict) else \
            failure.get("reason")
        raise MrosError(f"the {what} search was answered by {shards.get('successful')} of {shards.get('total')} shards "
                        f"(a partial answer misses the products of the others): {reason or 'no reason given'}",
                        "check the cluster's health (`mros status`); with replicas, a lost node's shards are served "
                        "by their copies once the cluster notices it left")
    return response


def _search_once(client: Any, index: str, body: dict[str, Any], params: dict[str, Any] | None,
                 requests: list[dict[str, Any]]) -> dict[str, Any]:
    requests.append({"method": "POST", "path": f"/{index}/_search", "params": dict(params or {}), "body": body})
    return client.search(index=index, body=body, params=params or None)


# --------------------------------------------------------------------------------------------------- search


def run_query(client: Any, index: str, manifest: Manifest, query: str, *, mode: str, k: int = 10,
              vector: np.ndarray | None = None, min_score: float | None = None,
              settings: HybridSettings | None = None) -> SearchResult:
    """One query against an already resolved index (``vector``: the query embedding in client mode).

    ``min_score`` makes the dense leg radial (dense and hybrid); it is an engine score.
    """
    if mode not in MODES:
        raise UsageError(f"unknown search mode {mode!r}", f"use one of {', '.join(MODES)}", parameters="mode")
    if mode == "bm25" and min_score is not None:
        raise UsageError("{min_score} applies to the dense leg; BM25 scores have no grade boundaries",
                         "use {mode} dense or {mode} hybrid", parameters=("min_score", "mode"))
    engine = manifest.embedding == "engine"
    if mode != "bm25" and not engine and vector is None:
        raise ValueError("client-mode dense and hybrid search need the query vector")
    if mode != "bm25" and engine and manifest.vector_layout == "knn_vector" and not manifest.model_id:
        raise MrosError(f"index {index} is in engine mode but records no model id",
                        "redeploy with `mros deploy --embedding engine`")
    requests: list[dict[str, Any]] = []
    used = settings if mode == "hybrid" else None
    start = time.perf_counter()
    if mode == "bm25":
        response = _check(_search_once(client, index, bm25_body(query, manifest.text_fields, k), None, requests), "bm25")
        wall = time.perf_counter() - start
        titles = _titles(response)
        hits = [Hit(r + 1, pid, titles.get(pid), score, NO_BADGE, bm25_score=score)
                for r, (pid, score) in enumerate(leg_hits(response))]
        took = float(response.get("took", 0))
    elif mode == "dense":
        if engine:
            body = engine_dense_body(manifest, query, k, k, min_score)
        else:
            body = knn_body(vector, k, k, min_score)  # type: ignore[arg-type]
        response = _check(_search_once(client, index, body, None, requests), "dense")
        wall = time.perf_counter() - start
        titles = _titles(response)
        hits = [Hit(r + 1, pid, titles.get(pid), score, _badge(manifest, score), dense_score=score)
                for r, (pid, score) in enumerate(leg_hits(response))]
        took = float(response.get("took", 0))
    else:
        if used is None:
            used = default_settings(manifest)
        if k > used.pagination_depth:  # each leg must return at least k hits for the fusion to rank k
            used = HybridSettings(**{**used.model_dump(), "pagination_depth": k})
        if engine:
            body = hybrid_body_engine(query, manifest, used, k, dense_min_score=min_score)
            params = {"search_pipeline": manifest.search_pipeline} if manifest.search_pipeline else None
            response = _check(_search_once(client, index, body, params, requests), "hybrid")
            wall = time.perf_counter() - start
            titles = _titles(response)
            # neural-search returns only the combined score: no per-leg raw scores, no badge
            hits = [Hit(r + 1, pid, titles.get(pid), score, NO_BADGE)
                    for r, (pid, score) in enumerate(leg_hits(response))]
            took = float(response.get("took", 0))
        else:
            depth = int(used.pagination_depth)
            lines = msearch_lines(index, [bm25_body(query, manifest.text_fields, depth),
                                          knn_body(vector, depth, depth, min_score)])  # type: ignore[arg-type]
            requests.append({"method": "POST", "path": "/_msearch", "params": {}, "body": lines})
            answer = client.msearch(body=lines)
            wall = time.perf_counter() - start
            bm25_response, knn_response = (_check(r, what) for r, what in zip(answer["responses"], ("bm25", "dense"),
                                                                                strict=True))
            titles = _titles(bm25_response, knn_response)
            bm25_raw, dense_raw = dict(leg_hits(bm25_response)), dict(leg_hits(knn_response))
            fused = fuse_explained([leg_hits(bm25_response), leg_hits(knn_response)], used, size=k)
            hits = [Hit(r + 1, pid, titles.get(pid), score, _badge(manifest, dense_raw.get(pid)),
                        bm25_score=bm25_raw.get(pid), dense_score=dense_raw.get(pid),
                        bm25_normalized=normalized[0], dense_normalized=normalized[1])
                    for r, (pid, score, normalized) in enumerate(fused)]
            took = float(answer.get("took", max(float(bm25_response.get("took", 0)), float(knn_response.get("took", 0)))))
    return SearchResult(alias=manifest.alias, index=index, mode=mode, embedding=manifest.embedding, query=query, k=k,
                        hits=hits, took_ms=took, wall_ms=wall * 1000.0, embed_ms=None, requests=requests,
                        radial_min_score=min_score if mode != "bm25" else None,
                        settings=used.model_dump(mode="json") if used is not None else None)


def search(client: Any, alias: str, query: str, *, mode: Mode, k: int = 10, min_grade: MinGrade | None = None,
           embedder: QueryEmbedder | None = None, settings: HybridSettings | None = None) -> SearchResult:
    """Search the index behind ``alias`` (see the module docstring for what each mode sends)."""
    if k < 1:
        raise UsageError(f"{{k}} {k}: must be at least 1", parameters="k")
    if mode == "bm25" and min_grade is not None:
        raise UsageError("{min_grade} applies to the dense leg; BM25 scores have no grade boundaries",
                         "use {mode} dense or {mode} hybrid", parameters=("min_grade", "mode"))
    query = check_request(query, mode, k, min_grade, DEFAULT_MAX_WINDOW)
    index, manifest = live_index(client, alias)
    return search_index(client, alias, index, manifest, query, mode=mode, k=k, min_grade=min_grade,
                        embedder=embedder or (QueryEmbedder(manifest) if mode != "bm25" and manifest.embedding == "client"
                                              else None),
                        settings=settings)


def search_index(client: Any, alias: str, index: str, manifest: Manifest, query: str, *, mode: str, k: int,
                 min_grade: str | None, embedder: QueryEmbedder | None,
                 settings: HybridSettings | None = None) -> SearchResult:
    """One search of a resolved ``index`` (``manifest``'s), the query embedded by ``embedder`` (client mode,
    dense and hybrid) and timed apart; the result names ``alias`` and, in ``extra``, ``min_grade``."""
    min_score = radial_min_score(manifest, min_grade)
    vector = None
    embed_ms = None
    if mode != "bm25" and manifest.embedding == "client":
        if embedder is None:
            raise ValueError("client-mode dense and hybrid search need the query embedder")
        start = time.perf_counter()
        vector = embedder.encode([query])[0]
        embed_ms = (time.perf_counter() - start) * 1000.0
    outcome = run_query(client, index, manifest, query, mode=mode, k=k, vector=vector, min_score=min_score,
                        settings=settings)
    outcome.alias = alias
    outcome.embed_ms = embed_ms
    if min_grade is not None:
        outcome.extra["min_grade"] = min_grade
    return outcome
