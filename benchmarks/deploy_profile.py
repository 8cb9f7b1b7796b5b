"""Where a client-mode deploy spends its CPU: encoding alone, bulk loading alone, and both overlapped.

On a small machine mros and the node share the cores, so the deploy's ceiling is set by the CPU
seconds each document costs on each side (``E`` in mros, ``N`` in the node): with ``C`` cores the
overlapped deploy cannot beat ``C / (E + N)`` docs/s. This measures, on a sample of the catalog:

1. encoding alone, for each encoder setting of ``--grid`` (intra-op threads, spinning on/off, batch):
   wall docs/s and mros CPU seconds per 1,000 documents;
2. the bulk load alone (``mros.deploy.deploy`` with the vectors of step 1 looked up, not computed):
   docs/s and the node's CPU seconds per 1,000 documents (``_nodes/stats`` process CPU);
3. the whole deploy (encoding overlapped with the bulk load, as ``mros deploy`` runs it) for each
   setting of ``--deploy-grid``.

    python benchmarks/deploy_profile.py --run /work/runs/bench-base --url http://127.0.0.1:9200 \
        --data ../shared/data/homedepot --sample 12000 --out docs/benchmarks/deploy-profile.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def node_cpu_seconds(client) -> float:
    stats = client.nodes.stats(metric="process")["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in stats.values()) / 1000.0


def setting(text: str) -> dict:
    """``threads:spinning:batch[:workers]``, e.g. ``2:1:64`` or ``1:0:64:2`` (threads 0 = onnxruntime's
    default; workers: encoder threads of the deploy, each running its own batches)."""
    threads, spinning, batch, *workers = (int(x) for x in text.split(":"))
    return {"threads": threads or None, "spinning": bool(spinning), "batch": batch, "workers": (workers or [1])[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--sample", type=int, default=12000, help="catalog rows used (seeded sample)")
    parser.add_argument("--grid", default="0:1:64,2:0:64,2:0:128,1:0:64,1:0:64:2",
                        help="encoder settings threads:spin:batch[:workers]")
    parser.add_argument("--deploy-grid", default="0:1:64,2:0:64,1:0:64:2", help="encoder settings of the full deploys")
    parser.add_argument("--ef-construction", default="128", help="comma list: HNSW ef_construction of the loads")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    from mr_opensearch.core.catalog import ServingCatalog, read_catalog
    from mr_opensearch.core.onnx_encoder import OnnxEncoder
    from mr_opensearch.deploy.deploy import DeployOptions, _encoded_batches, deploy
    from mr_opensearch.search.served_model import load_run

    client = OpenSearch(hosts=[args.url], timeout=300)
    full = read_catalog(args.data / "products.csv")
    rng = np.random.default_rng(7)
    keep = np.sort(rng.choice(len(full), size=min(args.sample, len(full)), replace=False))
    catalog = ServingCatalog(ids=[full.ids[i] for i in keep], titles=[full.titles[i] for i in keep])
    texts = catalog.embedding_texts()
    model = load_run(args.run)
    report: dict = {"command": " ".join(sys.argv), "documents": len(texts), "encode": [], "bulk": [], "deploy": []}

    def encoder_for(s: dict) -> OnnxEncoder:
        return OnnxEncoder(model.onnx, model.tokenizer, pooling=model.pooling_mode, normalize=model.normalize_result,
                           threads=s["threads"], spinning=s["spinning"])

    vectors = None
    docs = [{"product_id": str(i), "embedding_text": t} for i, t in enumerate(texts)]
    for text in args.grid.split(","):
        s = setting(text)
        encoder = encoder_for(s)
        encoder.encode(texts[:64])
        out = np.empty((len(texts), model.dimension), dtype=np.float32)
        c0, t0 = cpu_seconds(), time.perf_counter()
        for chunk, vecs in _encoded_batches(docs, lambda b, e=encoder, n=s["batch"]: e.encode(b, n), 256,
                                            {"encode": 0.0}, s["workers"]):  # the deploy's own feed
            out[[int(d["product_id"]) for d in chunk]] = vecs
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        vectors = out if vectors is None else vectors
        row = {"setting": text, **s, "docs_per_second": len(texts) / wall, "cpu_s_per_1k": 1000 * cpu / len(texts)}
        report["encode"].append(row)
        print(json.dumps(row), flush=True)

    lookup = {t: v for t, v in zip(texts, vectors, strict=True)}

    def drop(alias: str) -> None:
        for name in client.indices.get(index=f"{alias}-*", ignore_unavailable=True) or {}:
            client.indices.delete(index=name)

    def load(alias: str, encode, ef_construction: int, workers: int = 1) -> dict:
        drop(alias)
        n0, c0, t0 = node_cpu_seconds(client), cpu_seconds(), time.perf_counter()
        options = DeployOptions(alias=alias, embedding="client", ef_construction=ef_construction, encode_workers=workers)
        result = deploy(client, model, catalog, options, log=lambda *_: None, encode=encode)
        wall = time.perf_counter() - t0
        node, mine = node_cpu_seconds(client) - n0, cpu_seconds() - c0
        drop(alias)
        return {"docs_per_second": result.written / wall, "wall_seconds": wall, "written": result.written,
                "node_cpu_s_per_1k": 1000 * node / result.written, "mros_cpu_s_per_1k": 1000 * mine / result.written}

    for ef in (int(x) for x in args.ef_construction.split(",")):
        row = {"ef_construction": ef, **load("mros-profile-bulk", lambda batch: np.stack([lookup[t] for t in batch]), ef)}
        report["bulk"].append(row)
        print(json.dumps(row), flush=True)
        for text in args.deploy_grid.split(","):
            s = setting(text)
            encoder = encoder_for(s)
            row = {"ef_construction": ef, "setting": text, **s,
                   **load("mros-profile-deploy", lambda batch, e=encoder, b=s["batch"]: e.encode(batch, b), ef,
                          s["workers"])}
            report["deploy"].append(row)
            print(json.dumps(row), flush=True)
    cores = len(__import__("os").sched_getaffinity(0))
    best = min(report["encode"], key=lambda r: r["cpu_s_per_1k"])
    report["ceiling"] = {
        str(r["ef_construction"]): cores * 1000 / (best["cpu_s_per_1k"] + r["node_cpu_s_per_1k"]) for r in report["bulk"]
    }
    report["cores"] = cores
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({"ceiling_docs_per_second": report["ceiling"]}), flush=True)


if __name__ == "__main__":
    main()
