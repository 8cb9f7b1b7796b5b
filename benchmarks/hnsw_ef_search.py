"""Dense nDCG@10 of a deployed index against its HNSW search width, beside exact search.

For each ``ef_search`` of ``--ef`` the test split's queries (embedded as ``mros eval --alias`` embeds them) run
as lucene ``knn`` queries with ``method_parameters.ef_search`` (k = 100, top 10 kept); the index's own
setting is reported first. Compare with the serving benchmark's offline exact-search figure of the same
int8 model (``benchmarks/serving_homedepot.py``: ``offline_exact_dense_ndcg@10``).

    python benchmarks/hnsw_ef_search.py --url http://127.0.0.1:9200 --alias mros-bench \
        --data ../shared/data/homedepot --ef 100,200,300,400,600
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", default="mros-bench")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--ef", default="100,200,300,400,600")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    from mr_opensearch.core.metrics import mean_or_none, ndcg_at_k
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    client = OpenSearch(hosts=[args.url], timeout=120)
    test = read_judgments(args.data / "judgments.csv", split="test")
    index, manifest = live_index(client, args.alias)
    queries = list(dict.fromkeys(test.queries))
    vectors = QueryEmbedder(manifest).encode(queries)
    setting = client.indices.get_settings(index=index, flat_settings=True)[index]["settings"].get(
        "index.knn.algo_param.ef_search")
    report = {"index": index, "index_ef_search": setting, "queries": len(queries), "rows": []}

    def ndcg(method_parameters: dict | None) -> float | None:
        found = []
        for query, vector in zip(queries, vectors, strict=True):
            clause = {"vector": vector.tolist(), "k": 100, **({"method_parameters": method_parameters}
                                                               if method_parameters else {})}
            hits = client.search(index=index, body={"size": 10, "_source": ["product_id"],
                                                    "query": {"knn": {"embedding": clause}}})["hits"]["hits"]
            grades = test.graded[query]
            found.append(ndcg_at_k([grades.get(h["_source"]["product_id"], 0) for h in hits], list(grades.values()), 10))
        return mean_or_none(found)

    for ef in [None, *(int(x) for x in args.ef.split(","))]:
        start = time.perf_counter()
        value = ndcg({"ef_search": ef} if ef else None)
        row = {"ef_search": ef or f"index setting ({setting})", "ndcg@10": value,
               "ms_per_query": 1000 * (time.perf_counter() - start) / len(queries)}
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
