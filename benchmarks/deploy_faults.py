"""Deploy through faults: ``mros deploy`` of a few thousand products of the shared catalog, through the fault
proxy (``tests/tools/fault_proxy.py``) in front of a real node, at rising fault rates.

A fault rate is the share of requests the proxy spoils, split evenly over its five kinds: 429 and 503
(answered by the proxy with ``Retry-After``), a reset before forwarding, a reset after forwarding (the
request is carried out, its answer lost) and a slow answer. No cap on faults in a row (unlike the tests).
For each rate, a fresh alias and one deploy through the proxy, timed; then, directly against the node:
did the alias land on a complete index, how many catalog products are missing (lost) or present more
than once (duplicated). A first row deploys straight to the node (no proxy).

``--mode cached`` (default) runs :func:`mr_opensearch.deploy.deploy.deploy` in this process with a client from
:func:`mr_opensearch.cluster.connection.connect` (the CLI's retry policy and budget) and the catalog's vectors
embedded once beforehand, so the wall time is the cluster side of the deploy and the overhead of the
faults is not hidden behind embedding. ``--mode cli`` runs ``mros deploy`` as a subprocess, embedding
included (on 2 shared cores embedding is the bottleneck and the retry waits overlap with it).

    python benchmarks/deploy_faults.py --run runs/bench-base --url http://127.0.0.1:9262 \
        --catalog ../shared/data/homedepot/products.csv --products 3000 --out docs/benchmarks/deploy-faults.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tools.fault_proxy import FaultProxy, FaultRates  # noqa: E402


def subset_catalog(source: Path, n: int, out: Path) -> list[str]:
    from mr_opensearch.core.catalog import read_catalog

    catalog = read_catalog(source)
    ids, titles = list(catalog.ids)[:n], list(catalog.titles)[:n]
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["product_uid", "product_title"])
        writer.writerows(zip(ids, titles, strict=True))
    return ids


def check(client, alias: str, ids: list[str]) -> dict:
    """Against the node itself: where the alias points, and every catalog product's presence."""
    if not client.indices.exists_alias(name=alias):
        return {"alias_moved": False}
    (index,) = list(client.indices.get_alias(name=alias))
    client.indices.refresh(index=index)
    meta = client.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
    seen: dict[str, int] = {}
    from opensearchpy import helpers

    for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}, "_source": ["product_id"]}):
        pid = hit["_source"]["product_id"]
        seen[pid] = seen.get(pid, 0) + 1
    return {"alias_moved": True, "index": index, "complete": bool(meta.get("complete")),
            "count": client.count(index=index)["count"],
            "lost": sum(1 for pid in ids if pid not in seen),
            "duplicated": sum(n - 1 for n in seen.values() if n > 1),
            "unexpected": sum(1 for pid in seen if pid not in set(ids))}


def _deploy_cached(model, products, vectors: dict, alias: str, url: str, args) -> tuple[int, str, int, dict]:
    """The deploy code in this process, vectors looked up instead of embedded; (exit code, error, retries, result)."""
    import numpy as np

    from mr_opensearch.cluster.connection import ClusterConfig, connect
    from mr_opensearch.core.errors import MrosError
    from mr_opensearch.deploy.deploy import DeployOptions, deploy

    try:
        client = connect(ClusterConfig(retry_budget_s=args.retry_budget), url)
        outcome = deploy(client, model, products, DeployOptions(alias=alias, embedding="client",
                                                                 batch_size=args.batch_size),
                         log=lambda line: None, encode=lambda texts: np.stack([vectors[t] for t in texts]))
    except MrosError as exc:
        return exc.exit_code, str(exc), 0, {}
    return 0, "", int(client.transport.retry_policy.stats["retries"]), outcome.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a run directory with onnx/ (`mros export`)")
    parser.add_argument("--url", required=True, help="the real node, plain HTTP on this machine")
    parser.add_argument("--catalog", type=Path, default=ROOT.parent / "shared/data/homedepot/products.csv")
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--rates", default="0,0.1,0.2,0.3,0.5,0.7")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--retry-budget", type=float, default=120.0)
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of the proxy's 429/503 (s)")
    parser.add_argument("--slow", type=float, default=1.0, help="delay of a slow answer (s)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--mode", choices=("cached", "cli"), default="cached")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mros-deploy-faults"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from opensearchpy import OpenSearch

    upstream = urlparse(args.url)
    client = OpenSearch(hosts=[args.url], timeout=120)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    catalog = work / f"products-{args.products}.csv"
    ids = subset_catalog(args.catalog, args.products, catalog)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
           "MROS_HOME": str(work / "home"), "MROS_NO_PROGRESS": "1"}
    if args.mode == "cached":
        os.environ["MROS_HOME"] = str(work / "home")
        from mr_opensearch.core.catalog import read_catalog
        from mr_opensearch.core.encoder_package import load_served_encoder
        from mr_opensearch.search.served_model import load_run, store_served_copy

        model = load_run(args.run)
        products = read_catalog(catalog)
        started = time.monotonic()
        texts = list(products.embedding_texts(["title"]))
        vectors = dict(zip(texts, load_served_encoder(store_served_copy(model)).encode(texts, 64), strict=True))
        print(f"embedded {len(texts)} titles once in {time.monotonic() - started:.1f} s", flush=True)
    rows = []
    for rate in [None, *[float(r) for r in args.rates.split(",")]]:
        alias = "mros-bench-faults-direct" if rate is None else f"mros-bench-faults-{round(rate * 100)}"
        for name in list(client.indices.get(index=f"{alias}-*")):
            client.indices.delete(index=name)
        rates = FaultRates.each((rate or 0.0) / 5, retry_after_s=args.retry_after, slow_s=args.slow)
        with FaultProxy(int(upstream.port or 9200), rates, seed=args.seed) as proxy:
            url = args.url if rate is None else proxy.url
            start = time.monotonic()
            if args.mode == "cli":
                done = subprocess.run(
                    [sys.executable, "-m", "mr_opensearch", "--no-progress", "deploy", "--run", str(args.run),
                     "--catalog", str(catalog), "--alias", alias, "--url", url, "--embedding", "client",
                     "--batch-size", str(args.batch_size), "--retry-budget", str(args.retry_budget), "--json"],
                    capture_output=True, text=True, env=env, cwd=ROOT)
                exit_code, error = done.returncode, done.stderr.strip().splitlines()[-2:] if done.returncode else ""
                retries = sum(1 for line in done.stderr.splitlines() if line.startswith("retry: "))
                outcome = json.loads(done.stdout) if done.returncode == 0 else {}
            else:
                exit_code, error, retries, outcome = _deploy_cached(model, products, vectors, alias, url, args)
            seconds = time.monotonic() - start
            stats = dict(proxy.stats)
        state = check(client, alias, ids)
        row = {"rate": rate, "exit_code": exit_code, "seconds": round(seconds, 1),
               "converged": exit_code == 0 and state.get("complete") is True and state.get("lost") == 0
               and state.get("duplicated") == 0, **state, "retries": retries, "proxy": stats,
               "encode_seconds": outcome.get("encode_seconds"), "error": error}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "proxy"}), flush=True)
        for name in list(client.indices.get(index=f"{alias}-*")):
            client.indices.delete(index=name)
    base = next((r["seconds"] for r in rows if r["rate"] == 0 and r["converged"]), None)
    for row in rows:
        row["overhead_vs_0"] = round(row["seconds"] / base - 1, 3) if base else None
    args.out.write_text(json.dumps({"mode": args.mode, "products": args.products, "batch_size": args.batch_size,
                                    "retry_budget_s": args.retry_budget, "retry_after_s": args.retry_after,
                                    "slow_s": args.slow, "seed": args.seed, "rows": rows}, indent=2))
    print(f"{'rate':>5} {'converged':>9} {'lost':>5} {'dup':>4} {'retries':>7} {'seconds':>8} {'overhead':>8}")
    for r in rows:
        print(f"{'direct' if r['rate'] is None else format(r['rate'], '.2f'):>5} {r['converged']!s:>9} {r.get('lost', '-')!s:>5} {r.get('duplicated', '-')!s:>4} "
              f"{r['retries']:>7} {r['seconds']:>8.1f} {r['overhead_vs_0'] if r['overhead_vs_0'] is not None else '-'!s:>8}")


if __name__ == "__main__":
    main()
