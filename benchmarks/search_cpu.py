"""Where a client-mode search's CPU goes in the searcher, part by part (issue #32): the query embedding,
the cluster request (request and answer JSON included), the fusion, and the whole search, each timed
over the same test queries, one after another, in this process (``time.process_time``: CPU of every
thread of the process, so the cluster's own work is not counted). ``MROS_CODE=DIR`` measures the mros
checkout in DIR instead of this one (an earlier commit, in the same run on the same machine state).

    python benchmarks/search_cpu.py --url http://127.0.0.1:9200 --alias mros-bench-ov \\
        --judgments ../shared/data/homedepot/judgments.csv --out docs/benchmarks/search-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("MROS_CODE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

from mr_opensearch import Searcher, connect_cluster  # noqa: E402
from mr_opensearch.search.fusion import fuse_explained  # noqa: E402
from mr_opensearch.search.judgments import read_judgments  # noqa: E402
from mr_opensearch.search.queries import bm25_body, default_settings, knn_body, leg_hits, msearch_lines  # noqa: E402


def measure(fn: Any, items: list[Any], warmup: int = 20) -> dict[str, float]:
    """CPU and wall milliseconds per call of ``fn`` over ``items``, after ``warmup`` calls."""
    for item in items[:warmup]:
        fn(item)
    cpu, wall = time.process_time(), time.perf_counter()
    for item in items:
        fn(item)
    n = len(items)
    return {"cpu_ms": 1000.0 * (time.process_time() - cpu) / n, "wall_ms": 1000.0 * (time.perf_counter() - wall) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--judgments", type=Path, required=True, help="queries are taken from it (the test split)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    queries = list(dict.fromkeys(read_judgments(args.judgments, split="test").queries))[: args.queries]
    searcher = Searcher(connect_cluster(args.url), args.alias)
    live = searcher.live()
    embedder = searcher.embedder(live)
    if hasattr(embedder.encoder, "compile_static_shapes"):
        embedder.encoder.compile_static_shapes().join()
    manifest, index, client = live.manifest, live.index, searcher.client
    settings = default_settings(manifest)
    depth = int(settings.pagination_depth)
    vectors = dict(zip(queries, embedder.encode(queries), strict=True))
    bodies = {q: msearch_lines(index, [bm25_body(q, manifest.text_fields, depth), knn_body(vectors[q], depth, depth)])
              for q in queries}
    answers = {q: client.msearch(body=bodies[q]) for q in queries}
    legs = {q: [leg_hits(r) for r in answers[q]["responses"]] for q in queries}
    text = {q: json.dumps(answers[q]) for q in queries}
    serializer = client.transport.serializer
    try:
        fuse_explained(legs[queries[0]], settings, 10)

        def fuse_top(q: str) -> Any:
            return fuse_explained(legs[q], settings, 10)
    except TypeError:  # a checkout whose fusion returns every document

        def fuse_top(q: str) -> Any:
            return fuse_explained(legs[q], settings)[:10]
    parts = {
        "query embedding (batch 1)": measure(lambda q: embedder.encode([q]), queries),
        "hybrid _msearch round trip (client side)": measure(lambda q: client.msearch(body=bodies[q]), queries),
        "  of which: the answer's JSON read": measure(lambda q: serializer.loads(text[q]), queries),
        "  of which: the request's JSON written": measure(
            lambda q: "\n".join(serializer.dumps(line) for line in bodies[q]), queries),
        "fusion of 2 x 100 hits, top 10": measure(fuse_top, queries),
        "whole hybrid search (Searcher.search)": measure(lambda q: searcher.search(q, "hybrid", 10), queries),
        "whole dense search": measure(lambda q: searcher.search(q, "dense", 10), queries),
        "whole bm25 search": measure(lambda q: searcher.search(q, "bm25", 10), queries),
    }
    report = {"code": str(ROOT), "alias": args.alias, "index": index, "encoder_variant": manifest.encoder_variant,
              "serializer": type(serializer).__name__, "queries": len(queries),
              "answer_bytes": sum(len(t) for t in text.values()) / len(text), "parts": parts}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for name, figures in parts.items():
        print(f"{name:44s} CPU {figures['cpu_ms']:6.2f} ms  wall {figures['wall_ms']:6.2f} ms")


if __name__ == "__main__":
    main()
