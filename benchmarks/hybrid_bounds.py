"""Hybrid nDCG@10 on a deployed index for each dense weight and each lower bound of the dense leg: none
(plain min-max), the learned partial boundary, the learned exact boundary (modes apply and clip).

The two legs are fetched once per split (``live_eval.fetch_legs``, depth 100) and fused as the search
pipeline fuses them (``mr_opensearch.search.fusion.fuse``); the best row of each kind is printed per split, so a
choice made on validation can be read off on test.

    python benchmarks/hybrid_bounds.py --url http://127.0.0.1:9200 --alias mros-bench \
        --data ../shared/data/homedepot --out docs/benchmarks/hybrid-bounds.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", default="mros-bench")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    from mr_opensearch.search.fusion import HybridSettings, fuse
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.live_eval import fetch_legs, quality
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    client = OpenSearch(hosts=[args.url], timeout=120)
    index, manifest = live_index(client, args.alias)
    if manifest.boundaries is None:
        raise SystemExit(f"{index} was deployed without boundaries.json")
    bounds = manifest.boundaries.engine_score
    embedder = QueryEmbedder(manifest)
    report: dict = {"index": index, "engine_boundaries": bounds, "splits": {}}
    for split in ("validation", "test"):
        judgments = read_judgments(args.data / "judgments.csv", split=split)
        queries = list(dict.fromkeys(judgments.queries))
        vectors = dict(zip(queries, embedder.encode(queries), strict=True))
        legs = fetch_legs(client, index, manifest, queries, vectors, 100)
        rows = []
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
            for bound_name, bound in (("none", None), ("partial", bounds["partial"]), ("exact", bounds["exact"])):
                for mode in ("none",) if bound is None else ("apply", "clip"):
                    settings = HybridSettings(weights=(round(1 - weight, 1), weight), lower_bound_mode=mode,
                                              dense_lower_bound=bound, pagination_depth=100)
                    ranked = {q: [d for d, _ in fuse(legs[q], settings)] for q in queries}
                    rows.append({"dense_weight": weight, "bound": bound_name, "mode": mode,
                                 **quality(ranked, judgments.graded, 100)})
        best = {name: max((r for r in rows if r["bound"] == name), key=lambda r: r["ndcg@10"])
                for name in ("none", "partial", "exact")}
        report["splits"][split] = {"best": best, "rows": rows}
        print(split, json.dumps({k: (v["dense_weight"], v["mode"], round(v["ndcg@10"], 4)) for k, v in best.items()}),
              flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
