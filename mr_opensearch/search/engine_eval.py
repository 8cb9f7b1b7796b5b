"""In-engine evaluation: the deployed index answers the test queries, and we measure what users get.

* quality: graded nDCG@10 (gain 2^grade - 1, unjudged = 0) and recall@100 of partial-or-better and
  of exact products, from the hits OpenSearch returns (HNSW, not exact search), with the same metric
  code as offline evaluation so the two can be compared;
* latency: client-side wall time per ``knn`` search, one at a time (p50/p95/p99/mean), and the
  server's own ``took``;
* throughput: queries per second with ``concurrency`` parallel clients;
* thresholds: with learned boundaries, the share of hits above the partial boundary that are judged
  partial or exact (a radial ``min_score`` search at the boundary).
Query embedding time is measured separately (it runs in the caller, not in the engine).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pydantic import Field

from mr_opensearch.cluster.connection import MAX_PARALLEL_REQUESTS
from mr_opensearch.cluster.vector_index import knn_search
from mr_opensearch.core.strict import StrictModel
from mr_opensearch.search.manifest import cosine_to_score


class EngineEvalConfig(StrictModel):
    max_queries: int | None = Field(500, description="test queries sent to the engine (None: all)")
    k: int = Field(100, ge=10, le=10000)
    concurrency: int = Field(4, ge=1, le=MAX_PARALLEL_REQUESTS)
    warmup: int = Field(10, ge=0)


def _percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "p99": float(np.percentile(arr, 99)), "mean": float(arr.mean())}


def evaluate_in_engine(client: Any, index: str, judgments: Any, encode_queries: Any, config: EngineEvalConfig,
                       boundaries: dict | None = None) -> dict:
    """Run the test queries against ``index``; returns ``{"quality", "latency_ms", "throughput", ...}``."""
    from mr_opensearch.core.metrics import mean_or_none, ndcg_at_k, recall_at_k

    frame = judgments.frame
    queries = list(dict.fromkeys(frame["query"]))
    if config.max_queries:
        queries = queries[: config.max_queries]
    if not queries:
        raise ValueError("no queries to evaluate")
    graded = {q: dict(zip(g["product_id"], g["grade"], strict=True)) for q, g in frame.groupby("query", sort=False)}
    t = time.time()
    vectors = encode_queries(queries)
    encode_seconds = time.time() - t

    for vec in vectors[: config.warmup]:
        knn_search(client, index, vec, config.k)
    latencies, took, results = [], [], {}
    for query, vec in zip(queries, vectors, strict=True):
        start = time.perf_counter()
        response = knn_search(client, index, vec, config.k)
        latencies.append((time.perf_counter() - start) * 1000.0)
        took.append(float(response.get("took", 0)))
        results[query] = [h["_source"]["product_id"] for h in response["hits"]["hits"]]

    ndcg, rec_partial, rec_exact = [], [], []
    for query in queries:
        grades = graded.get(query, {})
        ranked = results[query]
        ndcg.append(ndcg_at_k([int(grades.get(p, 0)) for p in ranked], list(grades.values()), 10))
        rec_partial.append(recall_at_k(ranked, {p for p, g in grades.items() if g >= 1}, config.k))
        rec_exact.append(recall_at_k(ranked, {p for p, g in grades.items() if g == 2}, config.k))

    def one(vec: np.ndarray) -> None:
        knn_search(client, index, vec, config.k)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        list(pool.map(one, vectors))
    parallel_seconds = time.perf_counter() - start

    out: dict = {
        "index": index,
        "queries": len(queries),
        "k": config.k,
        "quality": {"ndcg@10": mean_or_none(ndcg), f"recall@{config.k}_partial+": mean_or_none(rec_partial),
                    f"recall@{config.k}_exact": mean_or_none(rec_exact)},
        "latency_ms": {**_percentiles(latencies), "server_took_p50": float(np.percentile(took, 50))},
        "throughput": {"qps_1_client": len(queries) / (sum(latencies) / 1000.0),
                       f"qps_{config.concurrency}_clients": len(queries) / parallel_seconds,
                       "query_embeddings_per_second": len(queries) / max(encode_seconds, 1e-9)},
    }
    if boundaries and boundaries.get("partial") is not None:
        min_score = cosine_to_score(float(boundaries["partial"]))
        above, relevant = 0, 0
        for query, vec in zip(queries, vectors, strict=True):
            hits = knn_search(client, index, vec, config.k, min_score=min_score)["hits"]["hits"]
            grades = graded.get(query, {})
            judged = [grades[h["_source"]["product_id"]] for h in hits if h["_source"]["product_id"] in grades]
            above += len(judged)
            relevant += sum(1 for g in judged if g >= 1)
        out["quality"]["judged_hits_above_partial_boundary"] = above
        out["quality"]["precision_above_partial_boundary"] = relevant / above if above else None
        out["partial_boundary_min_score"] = min_score
    return out
