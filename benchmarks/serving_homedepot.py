"""Serving benchmark on the shared Home Depot data: full catalog, client mode, against a real node.

1. the run's grade boundaries, when it has none, are learned on the validation split's judged pairs
   (cosines of its packaged int8 model; ``trainer.boundaries.learn_boundaries``);
2. ``mros deploy`` runs as a subprocess: wall time, docs/s and peak RSS (``ru_maxrss`` of children);
3. ``mros eval --alias``'s code on the test split: bm25 / dense / hybrid quality, latency p50/p95/p99, and a
   load of ``--load-seconds`` at each of ``--clients`` (default 1, 4, 16): QPS, p99 under load, errors;
4. the hybrid settings are tuned on the validation split (``live_eval.tune``), and the plain min-max
   and boundary-aware variants chosen there are measured on the test split (fusion recomputed from
   the live legs, identical to what the engine's pipeline computes);
5. offline exact search of the same int8 model over the full catalog (the deploy's vectors: same batches),
   for comparison with in-engine HNSW.

    python benchmarks/serving_homedepot.py --run runs/bench-base --url http://127.0.0.1:9250 \
        --data ../shared/data/homedepot --out docs/benchmarks/serving-base.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def learn_run_boundaries(run: Path, data: Path) -> None:
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.encoder_package import load_served_encoder
    from mr_opensearch.search.judgments import read_judgments
    from trainer.boundaries import learn_boundaries

    catalog = read_catalog(data / "products.csv")
    title = dict(zip(catalog.ids, catalog.titles, strict=True))
    val = read_judgments(data / "judgments.csv", split="validation")
    pairs = [(q, p, g) for q in val.queries for p, g in val.graded[q].items() if p in title]
    enc = load_served_encoder(run / "onnx")
    qv = enc.encode([q for q, _, _ in pairs])
    pv = enc.encode([title[p] for _, p, _ in pairs])
    found = learn_boundaries((qv * pv).sum(axis=1), np.array([g for _, _, g in pairs]))
    (run / "boundaries.json").write_text(json.dumps(found, indent=2, default=float))


def offline_dense(run: Path, data: Path, test) -> float:
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.encoder_package import load_served_encoder
    from mr_opensearch.core.metrics import mean_or_none, ndcg_at_k

    catalog = read_catalog(data / "products.csv")
    enc = load_served_encoder(run / "onnx")
    # batches of 64 in the deploy's order (longest text first): the int8 model quantizes activations per
    # batch (one scale per tensor), so a vector depends a little on its batch-mates; these batches are the
    # deploy's own, so the vectors are those in the index and the comparison isolates HNSW search
    docs = enc.encode(catalog.embedding_texts(), 64)
    queries = enc.encode(test.queries)
    scores = queries @ docs.T
    ndcg = []
    for i, q in enumerate(test.queries):
        top = np.argpartition(-scores[i], 10)[:10]
        top = top[np.argsort(-scores[i][top])]
        grades = test.graded[q]
        ndcg.append(ndcg_at_k([grades.get(catalog.ids[j], 0) for j in top], list(grades.values()), 10))
    return float(mean_or_none(ndcg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", default="mros-bench")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--clients", default="1,4,16", help="client counts of the load runs")
    parser.add_argument("--load-seconds", type=float, default=30.0, help="length of each load run")
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    from mr_opensearch.search.fusion import HybridSettings, fuse
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.live_eval import evaluate_live, fetch_legs, quality, tune
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    report: dict = {"run": str(args.run), "command": " ".join(sys.argv)}
    if not (args.run / "boundaries.json").exists():
        learn_run_boundaries(args.run, args.data)
    report["boundaries"] = json.loads((args.run / "boundaries.json").read_text())

    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "mr_opensearch", "--no-progress", "deploy", "--run", str(args.run),
                           "--catalog", str(args.data / "products.csv"), "--alias", args.alias, "--url", args.url,
                           "--embedding", "client", "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr)
    deployed = json.loads(proc.stdout)
    report["deploy"] = {"wall_seconds": time.time() - start, "action": deployed["action"], "index": deployed["index"],
                        "documents": deployed["documents"], "written": deployed["written"],
                        "docs_per_second": deployed["docs_per_second"], "encode_seconds": deployed["encode_seconds"],
                        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
    print(json.dumps(report["deploy"]), flush=True)

    client = OpenSearch(hosts=[args.url], timeout=120)
    test = read_judgments(args.data / "judgments.csv", split="test")
    validation = read_judgments(args.data / "judgments.csv", split="validation")
    index, manifest = live_index(client, args.alias)
    embedder = QueryEmbedder(manifest)
    report["test"] = evaluate_live(client, args.alias, test, clients=[int(c) for c in args.clients.split(",")],
                                   max_queries=args.max_queries, embedder=embedder, load_seconds=args.load_seconds)
    tuned = tune(client, args.alias, validation, max_queries=args.max_queries, embedder=embedder)
    report["tuning_validation"] = {k: tuned[k] for k in ("best", "comparison", "current")}
    report["tuning_validation"]["variants"] = len(tuned["variants"])
    queries = test.queries[: args.max_queries] if args.max_queries else test.queries
    vectors = dict(zip(queries, embedder.encode(queries), strict=True))
    legs = fetch_legs(client, index, manifest, queries, vectors, 100)
    report["hybrid_test"] = {}
    for name, row in tuned["comparison"].items():
        if row is None:
            continue
        settings = HybridSettings(**row["settings"])
        ranked = {q: [d for d, _ in fuse(legs[q], settings)] for q in queries}
        report["hybrid_test"][name] = {"settings": row["settings"], **quality(ranked, test.graded, 100)}
    report["offline_exact_dense_ndcg@10"] = offline_dense(args.run, args.data, test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({"deploy": report["deploy"], "test": {m: b["quality"]["ndcg@10"] for m, b in report["test"]["modes"].items()},
                      "hybrid_test": {k: v["ndcg@10"] for k, v in report["hybrid_test"].items()},
                      "offline": report["offline_exact_dense_ndcg@10"]}, indent=1))


if __name__ == "__main__":
    main()
