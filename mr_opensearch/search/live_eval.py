"""``mros eval --alias``: the judged queries through the live index, every search mode side by side, and tuning.

For each mode (bm25, dense, hybrid) and each judged query, the index behind the alias answers with its
top ``k`` (hybrid: both legs at ``pagination_depth``, fused, top ``k``), and we measure, with the offline
metric code (:mod:`mr_opensearch.core.metrics`):

* graded nDCG@10 (gain ``2^g - 1``; unjudged documents count 0);
* recall@k of the partial-or-better and of the exact products;
* for dense, the precision above each boundary: a radial search at the partial (exact) boundary's engine
  score returns every document scoring at least that; of those that are judged, the share judged partial
  or better (exact) — how well the learned line holds on the live HNSW index;
* latency: client wall time per search, one at a time (p50/p95/p99/mean), and the server's ``took``;
  under load, 1 and N threads sharing one client (its connection pool holds
  :data:`~mr_opensearch.cluster.connection.MAX_PARALLEL_REQUESTS`) for one pass over the queries or a bounded
  time: queries per second, latency p50/p95/p99 under that load, and failed requests (counted). Query embedding (client mode) is timed
  separately: it runs in mros, not in the engine (engine mode embeds inside the dense leg's latency).

:func:`tune` fetches both hybrid legs once per query (``_msearch``) and grid-searches offline over the
dense weight (0.1 … 0.9), the dense leg's lower-bound mode (``apply``, ``clip`` at the partial boundary,
or ``none`` = plain min-max) and the combined-score cut-off ``min_score`` (none, or quantiles of the
combined scores), keeping the variant with the best nDCG@10 (ties: higher recall@k partial+, then the
higher cut-off — a cut-off that costs nothing on these judgments is kept). Meant for a validation split.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from mr_opensearch.cluster.connection import MAX_PARALLEL_REQUESTS
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.core.metrics import mean_or_none, ndcg_at_k, recall_at_k
from mr_opensearch.core.safe_write import write_text
from mr_opensearch.search.fusion import HybridSettings, fuse
from mr_opensearch.search.manifest import Manifest
from mr_opensearch.search.queries import (
    MODES,
    QueryEmbedder,
    bm25_body,
    default_settings,
    engine_dense_body,
    knn_body,
    leg_hits,
    live_index,
    msearch_lines,
    run_query,
)

WARMUP = 5
DENSE_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(1, 10))
LOWER_BOUND_MODES = ("apply", "clip", "none")
MIN_SCORE_QUANTILES = (0.1, 0.25, 0.5)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "p99": float(np.percentile(arr, 99)), "mean": float(arr.mean())}


def quality(ranked: dict[str, list[str]], graded: dict[str, dict[str, int]], k: int) -> dict[str, float | None]:
    """nDCG@10 and recall@k (partial+, exact) of ranked product ids per query, and the grade metrics of the
    top 10:

    * ``exact_precision@10``: the share of the top 10 judged exact (unjudged hits count as not exact);
    * ``irrelevant_rate@10``: the share of the top 10 judged irrelevant (what a shopper sees that a rater
      called wrong; unjudged hits are not counted as irrelevant);
    * ``no_exact@10``: of the queries with an exact judgment, the share whose top 10 holds no exact product.
    """
    ndcg, rec_partial, rec_exact, exact_precision, irrelevant_rate, no_exact = [], [], [], [], [], []
    for query, ids in ranked.items():
        grades = graded.get(query, {})
        ndcg.append(ndcg_at_k([int(grades.get(p, 0)) for p in ids], list(grades.values()), 10))
        rec_partial.append(recall_at_k(ids, {p for p, g in grades.items() if g >= 1}, k))
        rec_exact.append(recall_at_k(ids, {p for p, g in grades.items() if g >= 2}, k))
        top = ids[:10]
        exact_precision.append(sum(1 for p in top if grades.get(p) == 2) / 10)
        irrelevant_rate.append(sum(1 for p in top if grades.get(p) == 0) / 10)
        if any(g == 2 for g in grades.values()):
            no_exact.append(float(not any(grades.get(p) == 2 for p in top)))
    return {"ndcg@10": mean_or_none(ndcg), f"recall@{k}_partial+": mean_or_none(rec_partial),
            f"recall@{k}_exact": mean_or_none(rec_exact), "exact_precision@10": mean_or_none(exact_precision),
            "irrelevant_rate@10": mean_or_none(irrelevant_rate), "no_exact@10": mean_or_none(no_exact)}


GRADE_LABELS = ("irrelevant", "partial", "exact")


def score_distribution(scored: dict[str, list[tuple[str, float]]], graded: dict[str, dict[str, int]],
                       bins: int = 20) -> dict[str, Any]:
    """Histograms of the scores of judged hits, one per grade, over shared bin edges: how well a mode's
    scores separate the grades (``{edges, counts: {grade: [...]}, hits: {grade: n}}``)."""
    by_grade: dict[str, list[float]] = {name: [] for name in GRADE_LABELS}
    for query, hits in scored.items():
        grades = graded.get(query, {})
        for pid, score in hits:
            if pid in grades:
                by_grade[GRADE_LABELS[int(grades[pid])]].append(float(score))
    values = [s for scores in by_grade.values() for s in scores]
    if not values:
        return {"edges": [], "counts": {name: [] for name in GRADE_LABELS}, "hits": {name: 0 for name in GRADE_LABELS}}
    low, high = min(values), max(values)
    edges = np.linspace(low, high if high > low else low + 1e-6, bins + 1)
    return {"edges": [float(e) for e in edges],
            "counts": {name: np.histogram(scores, bins=edges)[0].tolist() for name, scores in by_grade.items()},
            "hits": {name: len(scores) for name, scores in by_grade.items()}}


def precision_above(hits: dict[str, list[str]], graded: dict[str, dict[str, int]], grade: int) -> dict[str, Any]:
    """Of the judged documents among ``hits``, the share judged ``grade`` or better."""
    judged = relevant = 0
    for query, ids in hits.items():
        grades = graded.get(query, {})
        found = [grades[p] for p in ids if p in grades]
        judged += len(found)
        relevant += sum(1 for g in found if g >= grade)
    return {"judged_hits": judged, "precision": relevant / judged if judged else None}


def _queries(judgments: Any, max_queries: int | None) -> tuple[list[str], dict[str, dict[str, int]]]:
    queries = list(dict.fromkeys(judgments.queries))
    if max_queries:
        queries = queries[:max_queries]
    if not queries:
        raise MrosError("the judgments hold no queries", "check the judgments file (query, product, grade per row)")
    return queries, judgments.graded


MIN_COVERAGE = 0.5
"""Below this share of judged products found in the index, evaluation refuses (``min_coverage``)."""


def judged_coverage(client: Any, index: str, queries: list[str], graded: dict[str, dict[str, int]]) -> dict[str, Any]:
    """How many of the judged products of ``queries`` the index holds (``_id`` lookups without
    ``_source``), and how many queries keep at least one judged product that is in it: judgments of
    another catalog score 0 in every mode, which says nothing about the index."""
    judged = sorted({pid for q in queries for pid in graded.get(q, {})})
    found: set[str] = set()
    for start in range(0, len(judged), 1000):
        chunk = judged[start : start + 1000]
        answer = client.search(index=index, body={"_source": False, "size": len(chunk),
                                                  "query": {"ids": {"values": chunk}}})
        found.update(hit["_id"] for hit in answer["hits"]["hits"])
    covered = [q for q in queries if any(pid in found for pid in graded.get(q, {}))]
    return {"judged_products": len(judged), "found_products": len(found),
            "product_coverage": len(found) / len(judged) if judged else 0.0,
            "queries": len(queries), "queries_with_a_judged_product": len(covered)}


def check_coverage(coverage: dict[str, Any], index: str, min_coverage: float, warn: Callable[[str], None] | None) -> None:
    """Refuse (or, with ``warn``, only say) when fewer than ``min_coverage`` of the judged products are in
    the index; judgments that match nothing are always refused."""
    share = coverage["product_coverage"]
    what = (f"{coverage['found_products']} of {coverage['judged_products']} judged products ({share:.0%}) are in "
            f"{index}, and {coverage['queries_with_a_judged_product']} of {coverage['queries']} judged queries have "
            "one")
    if coverage["found_products"] == 0:
        raise MrosError(f"the judgments match nothing in the index: {what}",
                        "use judgments of the catalog this index was deployed from (same product ids)")
    if share < min_coverage:
        if warn is None:
            raise MrosError(f"the judgments cover too little of the index: {what}, below the {min_coverage:.0%} "
                            "minimum; products that are not in the index score 0 in every mode",
                            "use judgments of the deployed catalog, or measure anyway with {allow_low_coverage}",
                            parameters="allow_low_coverage")
        warn(f"warning: {what}; products that are not in the index score 0 in every mode")


def _embed(manifest: Manifest, queries: list[str], embedder: QueryEmbedder | None) -> tuple[dict[str, Any], dict]:
    """Query vectors (client mode) and how long embedding them took."""
    if manifest.embedding == "engine":
        return {}, {"where": "engine", "note": "embedded inside the engine: part of the dense and hybrid latency"}
    embedder = embedder or QueryEmbedder(manifest)
    embedder.encode(queries[:1])  # load the model outside the timing
    start = time.perf_counter()
    vectors = embedder.encode(queries)
    seconds = time.perf_counter() - start
    return dict(zip(queries, vectors, strict=True)), {
        "where": "client", "model_dir": str(embedder.model_dir), "seconds": seconds,
        "ms_per_query": seconds * 1000.0 / len(queries), "queries_per_second": len(queries) / max(seconds, 1e-9)}


def _bar(total: int, desc: str, progress: bool, unit: str = "query") -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    from mr_opensearch.core.console import console_stream

    return tqdm(total=total, desc=desc, unit=unit, file=console_stream())


def _wait_with_clock(futures: list[Any], seconds: float, desc: str) -> None:
    """A bar of the seconds a timed load runs, while its threads work."""
    from concurrent.futures import wait

    from tqdm.auto import tqdm

    from mr_opensearch.core.console import console_stream

    with tqdm(total=round(seconds), desc=desc, unit="s", file=console_stream()) as bar:
        start = time.perf_counter()
        while wait(futures, timeout=1.0).not_done:
            bar.n = min(round(seconds), int(time.perf_counter() - start))
            bar.refresh()
        bar.n = round(seconds)
        bar.refresh()


def _check_clients(clients: Sequence[int]) -> list[int]:
    counts = sorted({int(c) for c in clients})
    if not counts or counts[0] < 1 or counts[-1] > MAX_PARALLEL_REQUESTS:
        raise UsageError(f"client counts {list(clients)}: each must be between 1 and {MAX_PARALLEL_REQUESTS}",
                         f"the client's connection pool holds {MAX_PARALLEL_REQUESTS} connections", parameters="clients")
    return counts


def evaluate_live(client: Any, alias: str, judgments: Any, *, modes: Sequence[str] = MODES, k: int = 100,
                  clients: Sequence[int] = (1, 4), max_queries: int | None = None,
                  embedder: QueryEmbedder | None = None, settings: HybridSettings | None = None,
                  progress: bool = False, load_seconds: float | None = None, min_coverage: float = MIN_COVERAGE,
                  warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every mode over the judged queries through the live index (see the module docstring); the load
    at each client count runs one pass over the queries, or ``load_seconds`` when given. Refuses when
    fewer than ``min_coverage`` of the judged products are in the index (with ``warn``, says so and goes
    on; judgments that match nothing are always refused)."""
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UsageError(f"unknown modes {unknown or list(modes)}", f"use a subset of {','.join(MODES)}",
                         parameters="modes")
    if k < 10:
        raise UsageError(f"{{k}} {k}: must be at least 10 (nDCG@10 needs the top 10)", parameters="k")
    counts = _check_clients(clients)
    index, manifest = live_index(client, alias)
    queries, graded = _queries(judgments, max_queries)
    coverage = judged_coverage(client, index, queries, graded)
    check_coverage(coverage, index, min_coverage, warn)
    used = settings or default_settings(manifest)
    needs_vectors = any(m != "bm25" for m in modes)
    vectors, embedding = _embed(manifest, queries, embedder) if needs_vectors else ({}, None)

    out: dict[str, Any] = {"alias": alias, "index": index, "embedding": manifest.embedding, "queries": len(queries),
                           "k": k, "clients": counts, "coverage": coverage, "query_embedding": embedding,
                           "hybrid_settings": used.model_dump(mode="json"), "modes": {}}
    for mode in modes:
        def one(query: str, mode: str = mode, min_score: float | None = None) -> Any:
            return run_query(client, index, manifest, query, mode=mode, k=k, vector=vectors.get(query),
                             min_score=min_score, settings=used)

        for query in queries[:WARMUP]:
            one(query)
        bar = _bar(len(queries), f"eval {mode}", progress)
        ranked: dict[str, list[str]] = {}
        scored: dict[str, list[tuple[str, float]]] = {}
        latencies, took = [], []
        for query in queries:
            answer = one(query)
            ranked[query] = answer.ids()
            scored[query] = [(h.product_id, h.score) for h in answer.hits]
            latencies.append(answer.wall_ms)
            took.append(answer.took_ms)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        block: dict[str, Any] = {
            "quality": quality(ranked, graded, k),
            "score_distribution": score_distribution(scored, graded),
            "latency_ms": {**percentiles(latencies), "server_took_p50": float(np.percentile(took, 50))},
        }
        block["load"] = {str(c): load(one, queries, c, load_seconds, progress, f"eval {mode}: load, {c} client(s)")
                         for c in counts}
        block["qps"] = {c: row["qps"] for c, row in block["load"].items()}
        if mode == "dense" and manifest.boundaries is not None:
            block["boundaries"] = {}
            for grade_name, grade in (("partial", 1), ("exact", 2)):
                cut = manifest.boundaries.min_score(grade_name)
                bar = _bar(len(queries), f"eval dense: at the {grade_name} boundary", progress)
                above = {}
                for q in queries:
                    above[q] = one(q, min_score=cut).ids()
                    if bar is not None:
                        bar.update(1)
                if bar is not None:
                    bar.close()
                block["boundaries"][grade_name] = {"min_score": cut, **precision_above(above, graded, grade)}
        out["modes"][mode] = block
    return out


def load(one: Callable[[str], Any], queries: list[str], threads: int, seconds: float | None = None,
         progress: bool = False, desc: str = "load") -> dict[str, Any]:
    """``threads`` threads sharing one client send ``queries`` in turn: one pass over them, or, with
    ``seconds``, round after round until that much time has passed (each thread finishes the request it
    is in). Returns queries per second, the wall latency of each request under that load, and the
    requests that failed (counted, the first one's error kept, and when they fell: ``error_window``, the
    seconds from the load's start of the first and the last failure), so a load test shows errors, and
    how long a fault lasted, instead of stopping at the first."""
    lock = threading.Lock()
    position = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    failed_at: list[float] = []
    deadline = None if seconds is None else time.perf_counter() + seconds
    bar = _bar(len(queries), desc, progress) if seconds is None else None

    def worker() -> None:
        while True:
            with lock:
                i = next(position)
            if deadline is None and i >= len(queries):
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            start = time.perf_counter()
            try:
                one(queries[i % len(queries)])
            except Exception as exc:  # counted and reported: a load test must see every failure
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                    failed_at.append(time.perf_counter() - began)
                continue
            elapsed = (time.perf_counter() - start) * 1000.0
            with lock:
                latencies.append(elapsed)
                if bar is not None:
                    bar.update(1)

    began = start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        if seconds is not None and progress:
            _wait_with_clock(futures, seconds, desc)
        for future in futures:
            future.result()
    if bar is not None:
        bar.close()
    wall = max(time.perf_counter() - start, 1e-9)
    return {"clients": threads, "seconds": wall, "requests": len(latencies) + len(errors), "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "error_window": {"first_s": min(failed_at), "last_s": max(failed_at),
                             "seconds": max(failed_at) - min(failed_at)} if failed_at else None,
            "qps": len(latencies) / wall,
            "latency_ms": {**percentiles(latencies), "max": max(latencies)} if latencies else None}


# --------------------------------------------------------------------------------------------------- tune


def fetch_legs(client: Any, index: str, manifest: Manifest, queries: list[str], vectors: dict[str, Any], depth: int,
               progress: bool = False) -> dict[str, tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
    """Both hybrid legs' raw ``(id, score)`` lists per query, one ``_msearch`` per query."""
    legs = {}
    bar = _bar(len(queries), "tune: fetching legs", progress)
    for query in queries:
        if manifest.embedding == "engine":
            dense = engine_dense_body(manifest, query, depth, depth)
        else:
            dense = knn_body(vectors[query], depth, depth)
        answer = client.msearch(body=msearch_lines(index, [bm25_body(query, manifest.text_fields, depth), dense]))
        responses = answer["responses"]
        for response in responses:
            if "error" in response:
                raise MrosError(f"a hybrid leg failed for {query!r}: {response['error']}", "rerun with --debug")
        legs[query] = (leg_hits(responses[0]), leg_hits(responses[1]))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return legs


def _variant_quality(legs: dict[str, tuple[list, list]], graded: dict[str, dict[str, int]], settings: HybridSettings,
                     k: int) -> tuple[dict[str, float | None], dict[str, list[tuple[str, float]]]]:
    fused = {q: fuse([bm25, dense], settings, size=k) for q, (bm25, dense) in legs.items()}
    return quality({q: [pid for pid, _ in hits] for q, hits in fused.items()}, graded, k), fused


def tune(client: Any, alias: str, judgments: Any, *, k: int = 100, max_queries: int | None = None,
         embedder: QueryEmbedder | None = None, settings: HybridSettings | None = None,
         progress: bool = False, min_coverage: float = MIN_COVERAGE,
         warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Choose the hybrid settings on ``judgments`` (see the module docstring); returns best + all variants.
    The judged products must be in the index as for :func:`evaluate_live`; ``best`` is None when no
    variant scored above 0 (nothing measured, so there is nothing to save)."""
    index, manifest = live_index(client, alias)
    queries, graded = _queries(judgments, max_queries)
    coverage = judged_coverage(client, index, queries, graded)
    check_coverage(coverage, index, min_coverage, warn)
    base = settings or default_settings(manifest)
    depth = int(base.pagination_depth)
    vectors, _ = _embed(manifest, queries, embedder)
    legs = fetch_legs(client, index, manifest, queries, vectors, depth, progress)
    partial = manifest.boundaries.engine_score["partial"] if manifest.boundaries is not None else None
    bound_modes = LOWER_BOUND_MODES if partial is not None else ("none",)
    recall_key = f"recall@{k}_partial+"

    variants: list[dict[str, Any]] = []
    grid = _bar(len(DENSE_WEIGHTS) * len(bound_modes), "tune: grid search", progress, unit="setting")
    for weight in DENSE_WEIGHTS:
        for mode in bound_modes:
            if grid is not None:
                grid.update(1)
            plain = base.model_copy(update={"weights": (round(1.0 - weight, 1), weight), "lower_bound_mode": mode,
                                            "dense_lower_bound": partial if mode != "none" else None,
                                            "min_score": None})
            plain = HybridSettings(**plain.model_dump())
            metrics, fused = _variant_quality(legs, graded, plain, k)
            variants.append({"settings": plain.model_dump(mode="json"), **metrics})
            combined = [score for hits in fused.values() for _, score in hits]
            if not combined:
                continue
            for cut in sorted({round(float(np.quantile(combined, q)), 4) for q in MIN_SCORE_QUANTILES}):
                cut_settings = HybridSettings(**{**plain.model_dump(), "min_score": cut})
                metrics, _ = _variant_quality(legs, graded, cut_settings, k)
                variants.append({"settings": cut_settings.model_dump(mode="json"), **metrics})

    if grid is not None:
        grid.close()

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        cut = row["settings"]["min_score"]
        return (row["ndcg@10"] if row["ndcg@10"] is not None else -1.0,
                row[recall_key] if row[recall_key] is not None else -1.0,
                cut if cut is not None else -np.inf)

    def best_of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        measured = [r for r in rows if r["ndcg@10"]]
        return max(measured, key=key) if measured else None

    current, _ = _variant_quality(legs, graded, base, k)
    plain_rows = [r for r in variants if r["settings"]["lower_bound_mode"] == "none" and r["settings"]["min_score"] is None]
    aware_rows = [r for r in variants if r["settings"]["lower_bound_mode"] != "none"]
    return {"alias": alias, "index": index, "embedding": manifest.embedding, "queries": len(queries), "k": k,
            "pagination_depth": depth, "dense_lower_bound": partial, "coverage": coverage,
            "best": best_of(variants),
            "current": {"settings": base.model_dump(mode="json"), **current},
            "comparison": {"plain_min_max": best_of(plain_rows), "boundary_aware": best_of(aware_rows)},
            "variants": variants}


def default_tuning_path(alias: str) -> Path:
    from mr_opensearch.core.paths import user_dir

    return user_dir() / "tuning" / f"{alias}.json"


def save_tuning(outcome: dict[str, Any], path: Path) -> Path:
    """Write the tuning result (``best.settings`` is what ``mros deploy`` reads) atomically; a tuning
    that measured nothing (no variant above nDCG 0) is refused, so a deploy never applies it."""
    if outcome.get("best") is None:
        raise MrosError(f"tuning on {outcome.get('queries')} queries measured nothing (every variant scored nDCG@10 0), "
                        f"so nothing was saved to {path}",
                        "tune with judgments whose products are in the index")
    return write_text(path, json.dumps(outcome, indent=2, sort_keys=True, default=float))
