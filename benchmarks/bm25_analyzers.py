"""Which title analyzer gives the BM25 leg (alone and in the hybrid) its best nDCG@10?

Each variant indexes the catalog's titles (BM25 only, no vectors) into its own scratch index on the node,
runs the split's judged queries through it, and fuses its hits with the dense leg of a deployed mros index
(``--alias``; raw lucene scores, depth 100) exactly as the serving hybrid does (``mr_opensearch.search.fusion``),
over the same grid of weights and lower bounds as ``benchmarks/hybrid_bounds.py``. Select on
``validation``; read ``test`` once for the chosen variant (``--split test --variants NAME``).

    python benchmarks/bm25_analyzers.py --url http://127.0.0.1:9200 --alias mros-bench \\
        --data ../shared/data/homedepot --split validation --out docs/benchmarks/bm25-analyzers-validation.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# the analysis settings of a variant and the fields its query searches
KSTEM = {"type": "custom", "tokenizer": "standard",
         "filter": ["lowercase", "asciifolding", "english_possessive", "kstem"]}
WORD_PARTS = {"type": "custom", "tokenizer": "whitespace",
              "filter": ["mros_word_parts", "lowercase", "asciifolding", "english_possessive", "kstem", "flatten_graph"]}
FILTERS = {"english_possessive": {"type": "stemmer", "language": "possessive_english"},
           "mros_word_parts": {"type": "word_delimiter_graph", "preserve_original": True, "catenate_words": True,
                               "catenate_numbers": True, "split_on_numerics": True, "stem_english_possessive": True}}


def variants() -> dict[str, tuple[dict, dict, list[str], str]]:
    """name -> (analysis, title mapping, query fields, multi_match type)."""
    analysis = {"analyzer": {"mros_kstem": KSTEM, "mros_word_parts": WORD_PARTS}, "filter": FILTERS}
    return {
        "standard": ({}, {"type": "text"}, ["title"], "best_fields"),
        "english": ({}, {"type": "text", "analyzer": "english"}, ["title"], "best_fields"),
        "kstem": (analysis, {"type": "text", "analyzer": "mros_kstem"}, ["title"], "best_fields"),
        "standard+english": ({}, {"type": "text", "fields": {"english": {"type": "text", "analyzer": "english"}}},
                             ["title", "title.english"], "most_fields"),
        "standard+kstem": (analysis, {"type": "text", "fields": {"kstem": {"type": "text", "analyzer": "mros_kstem"}}},
                           ["title", "title.kstem"], "most_fields"),
        "word_parts": (analysis, {"type": "text", "analyzer": "mros_word_parts",
                                  "search_analyzer": "mros_kstem"}, ["title"], "best_fields"),
        "standard+word_parts": (analysis, {"type": "text", "fields": {
            "parts": {"type": "text", "analyzer": "mros_word_parts", "search_analyzer": "mros_kstem"}}},
            ["title", "title.parts"], "most_fields"),
    }


def build_index(client, name: str, analysis: dict, title: dict, catalog) -> None:
    from opensearchpy.helpers import bulk

    if client.indices.exists(index=name):
        client.indices.delete(index=name)
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"}
    if analysis:
        settings["analysis"] = analysis
    client.indices.create(index=name, body={"settings": {"index": settings}, "mappings": {
        "dynamic": "strict", "properties": {"product_id": {"type": "keyword"}, "title": title}}})
    bulk(client, ({"_index": name, "_id": pid, "_source": {"product_id": pid, "title": t}}
                  for pid, t in zip(catalog.ids, catalog.titles, strict=True)), chunk_size=2000, request_timeout=300)
    client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=name)
    client.indices.forcemerge(index=name, max_num_segments=1, request_timeout=600)


def bm25_leg(client, index: str, fields: list[str], kind: str, queries: list[str], depth: int) -> dict:
    legs = {}
    for start in range(0, len(queries), 50):
        chunk = queries[start:start + 50]
        lines = []
        for q in chunk:
            lines += [{"index": index}, {"size": depth, "_source": False,
                                         "query": {"multi_match": {"query": q, "fields": fields, "type": kind}}}]
        responses = client.msearch(body=lines)["responses"]
        for q, response in zip(chunk, responses, strict=True):
            if "error" in response:
                raise SystemExit(f"{index}: {response['error']}")
            legs[q] = [(h["_id"], float(h["_score"])) for h in response["hits"]["hits"]]
    return legs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", default="mros-bench", help="a deployed mros index: its dense leg is fused")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--variants", default=",".join(variants()), help="comma-separated variant names")
    parser.add_argument("--keep", action="store_true", help="keep the scratch indices")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.search.fusion import HybridSettings, fuse
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.live_eval import fetch_legs, quality
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    client = OpenSearch(hosts=[args.url], timeout=300)
    index, manifest = live_index(client, args.alias)
    bounds = manifest.boundaries.engine_score if manifest.boundaries is not None else {}
    judgments = read_judgments(args.data / "judgments.csv", split=args.split)
    queries = list(dict.fromkeys(judgments.queries))
    vectors = dict(zip(queries, QueryEmbedder(manifest).encode(queries), strict=True))
    dense = {q: legs[1] for q, legs in fetch_legs(client, index, manifest, queries, vectors, 100).items()}
    catalog = read_catalog(args.data / "products.csv")
    report: dict = {"alias": args.alias, "index": index, "split": args.split, "queries": len(queries),
                    "engine_boundaries": bounds, "variants": {}}
    for name in args.variants.split(","):
        analysis, title, fields, kind = variants()[name]
        scratch = f"mros-bm25-{name.replace('+', '-')}"
        build_index(client, scratch, analysis, title, catalog)
        bm25 = bm25_leg(client, scratch, fields, kind, queries, 100)
        alone = quality({q: [p for p, _ in bm25[q]] for q in queries}, judgments.graded, 100)
        rows = []
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
            for bound_name in ("none", "partial"):
                bound = bounds.get(bound_name)
                for mode in ("none",) if bound is None else ("apply", "clip"):
                    settings = HybridSettings(weights=(round(1 - weight, 1), weight), lower_bound_mode=mode,
                                              dense_lower_bound=bound, pagination_depth=100)
                    ranked = {q: [d for d, _ in fuse([bm25[q], dense[q]], settings)] for q in queries}
                    rows.append({"dense_weight": weight, "bound": bound_name, "mode": mode,
                                 **quality(ranked, judgments.graded, 100)})
        best = {b: max((r for r in rows if r["bound"] == b), key=lambda r: r["ndcg@10"])
                for b in {r["bound"] for r in rows}}
        report["variants"][name] = {"fields": fields, "type": kind, "title_mapping": title, "bm25": alone,
                                    "hybrid_best": best, "hybrid": rows}
        print(f"{name:22s} bm25 {alone['ndcg@10']:.4f}  " + "  ".join(
            f"hybrid[{b}] {r['ndcg@10']:.4f} ({r['dense_weight']}, {r['mode']})" for b, r in sorted(best.items())),
            flush=True)
        if not args.keep:
            client.indices.delete(index=scratch)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
