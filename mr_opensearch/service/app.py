"""The HTTP JSON service of ``mros serve``, a Starlette app over one :class:`~mr_opensearch.search.searcher.Searcher`.

Routes:

* ``GET /search?q=&mode=bm25|dense|hybrid&k=&min_grade=``: the hits (id, title, score, grade badge or
  null; hybrid: each leg's raw and normalized score), the index that answered and the model that embedded
  the query; with judgments, each hit's judged grade and the query's nDCG@10;
* ``GET /healthz``: the process answers; ``GET /readyz``: the alias resolves and its encoder is loaded;
* ``GET /metrics``: Prometheus text (:mod:`mr_opensearch.service.telemetry`);
* ``GET /``: the relevance page (:mod:`mr_opensearch.service.page`).

Errors are JSON, ``{"error", "hint", "parameter"?}``: 400 for a request that cannot be answered as asked
(unknown mode, k out of range, an empty, oversized or non-UTF-8 query), 503 with ``Retry-After`` when the
service is at its concurrency bound or the cluster cannot answer now (the alias vanished, the cluster is
away), 500 for anything else. The service keeps serving after every one of them.

Searches run in worker threads (the cluster client is synchronous); at most ``max_concurrency`` at once,
the rest are answered 503 at once rather than queued, so a traffic spike cannot pile up latency.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.metrics import ndcg_at_k
from mr_opensearch.search.queries import MODES, SearchInputError, SearchResult
from mr_opensearch.search.searcher import Searcher
from mr_opensearch.service.page import page_html
from mr_opensearch.service.telemetry import Telemetry

log = logging.getLogger("mros.serve")

DEFAULT_MAX_CONCURRENCY = 32
RETRY_AFTER_SECONDS = 1


class _Bound:
    """A non-blocking bound on requests in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


class FastJSONResponse(JSONResponse):
    """A JSON response rendered by orjson (a search answer of 10 hits renders several times faster than with
    the standard library's encoder); NaN and infinities become null, as JSON has none."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _error(status: int, message: str, hint: str | None = None, parameter: str | None = None,
           retry_after: int | None = None) -> FastJSONResponse:
    body: dict[str, Any] = {"error": message, "hint": hint}
    if parameter is not None:
        body["parameter"] = parameter
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return FastJSONResponse(body, status_code=status, headers=headers)


def _params(request: Request) -> dict[str, str]:
    """The query-string parameters, decoded strictly as UTF-8 (a non-UTF-8 query is refused, not mangled)."""
    out: dict[str, str] = {}
    for part in request.scope.get("query_string", b"").split(b"&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition(b"=")
        try:
            name = urllib.parse.unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8")
            value = urllib.parse.unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise SearchInputError("q", "the request's parameters are not UTF-8",
                                   "percent-encode the query as UTF-8") from None
        out.setdefault(name, value)
    return out


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise SearchInputError(name, f"{name} {value!r} is not a whole number", f"send e.g. {name}={default}") from None


def result_json(result: SearchResult, judgments: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """The JSON of one answer (:meth:`SearchResult.to_json`'s hits: no badge is null), with each hit's judged
    grade and the query's nDCG@10 when the service has judgments."""
    judged = judgments.get(result.query) if judgments is not None else None
    hits = result.to_json()["hits"]
    if judgments is not None:
        for hit in hits:
            hit["judged"] = (judged or {}).get(hit["product_id"])
    body: dict[str, Any] = {
        "query": result.query, "mode": result.mode, "k": result.k, "alias": result.alias, "index": result.index,
        "embedding": result.embedding, "model_sha256": result.extra.get("model_sha256"),
        "onnx_sha256": result.extra.get("onnx_sha256"), "took_ms": result.took_ms, "search_ms": result.wall_ms,
        "embed_ms": result.embed_ms, "hybrid_settings": result.settings,
        "hits": hits,
    }
    if judgments is not None:
        body["judged_query"] = judged is not None
        body["ndcg@10"] = (ndcg_at_k([judged.get(h.product_id, 0) for h in result.hits], list(judged.values()), 10)
                           if judged else None)
    return body


def create_app(searcher: Searcher, *, judgments: dict[str, dict[str, int]] | None = None,
               max_concurrency: int = DEFAULT_MAX_CONCURRENCY, telemetry: Telemetry | None = None,
               on_request: Callable[[dict[str, Any]], None] | None = None) -> Starlette:
    """The service's ASGI app.

    Args:
        searcher: what answers the searches (bound to a cluster and an alias).
        judgments: ``{query: {product id: grade}}``; when given, hits carry their judged grade and judged
            queries their nDCG@10 (the relevance page shows both).
        max_concurrency: searches answered at once; more are refused with 503 and ``Retry-After``.
        telemetry: the metrics to update (a fresh registry by default).
        on_request: called with each answered search's JSON (tests, logging).
    """
    telemetry = telemetry or Telemetry()
    bound = _Bound(max_concurrency)

    async def search(request: Request) -> Response:
        started = time.perf_counter()
        mode = request.query_params.get("mode", "hybrid")
        mode_label = mode if mode in MODES else "invalid"
        if not bound.try_enter():
            telemetry.rejected.inc()
            telemetry.answered(mode_label, 503, time.perf_counter() - started)
            return _error(503, f"the service is answering {bound.limit} searches already",
                          "retry after the Retry-After seconds", retry_after=RETRY_AFTER_SECONDS)
        telemetry.in_flight.inc()
        try:
            params = _params(request)
            mode = params.get("mode", "hybrid")
            query = params.get("q", "")
            k = _int_param(params, "k", 10)
            min_grade = params.get("min_grade") or None
            result = await run_in_threadpool(searcher.search, query, mode, k, min_grade)
            body = result_json(result, judgments)
            telemetry.serving(searcher.alias, result.index, str(body["model_sha256"]))
            status, response = 200, FastJSONResponse(body)
            if on_request is not None:
                on_request(body)
        except SearchInputError as exc:
            telemetry.failed(mode_label, "bad_request")
            status, response = 400, _error(400, exc.message, exc.hint, exc.parameter)
        except MrosError as exc:
            telemetry.failed(mode_label, "unavailable")
            log.warning("search failed: %s", exc.message)
            status, response = 503, _error(503, exc.message, exc.hint, retry_after=RETRY_AFTER_SECONDS)
        except Exception as exc:  # answered, counted and logged: one bad request must not stop the service
            telemetry.failed(mode_label, "internal")
            log.exception("search failed")
            status, response = 500, _error(500, f"{type(exc).__name__}: {str(exc)[:300]}",
                                           "see the service log; the service keeps serving")
        finally:
            telemetry.in_flight.dec()
            bound.leave()
        telemetry.answered(mode_label, status, time.perf_counter() - started)
        return response

    async def healthz(_request: Request) -> Response:
        return FastJSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        try:
            live = await run_in_threadpool(searcher.ready)
        except MrosError as exc:
            return _error(503, exc.message, exc.hint, retry_after=RETRY_AFTER_SECONDS)
        telemetry.serving(searcher.alias, live.index, live.manifest.model_sha256)
        return FastJSONResponse({"status": "ready", "alias": searcher.alias, "index": live.index,
                             "embedding": live.manifest.embedding, "model_sha256": live.manifest.model_sha256})

    async def metrics(_request: Request) -> Response:
        payload, content_type = telemetry.exposition()
        return Response(payload, media_type=content_type)

    async def page(_request: Request) -> Response:
        return HTMLResponse(page_html(searcher.alias, judged=judgments is not None))

    return Starlette(routes=[
        Route("/search", search), Route("/healthz", healthz), Route("/readyz", readyz),
        Route("/metrics", metrics), Route("/", page),
    ])
