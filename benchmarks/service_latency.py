"""`mros serve` against the cluster itself: latency and QPS per mode at 1, 4 and 16 clients (issue #32).

For each mode and client count, in one run on the same queries, two loads of ``--seconds`` each:

* **service**: ``GET /search?q=...&mode=...&k=10`` on a running ``mros serve`` (HTTP, query embedding,
  the search, hybrid fusion in mros, JSON);
* **cluster**: the same search sent straight to the cluster with the query vector computed beforehand
  (bm25: ``_search``; dense: ``knn``; hybrid: the two legs in one ``_msearch``, as client mode sends them),
  through one shared ``opensearch-py`` client: the round trip an application could not go below.

The service's overhead is the difference of the p50s. Each load also records the CPU time the service and
the OpenSearch node spent per answered request (the 2 cores are shared by the node, the service and this
load generator, so CPU per request is what decides throughput at 16 clients). Before the first load the
service is warmed for ``--warmup`` seconds (its encoder's single-query models compile in the background). Every request is a new HTTP/1.1 connection to the
service only when the client library makes one; here each client thread keeps one ``http.client``
connection open, as an application's pool would.

    python benchmarks/service_latency.py --url http://127.0.0.1:9200 --alias mros-bench-serve \\
        --judgments ../shared/data/homedepot/judgments.csv --out docs/benchmarks/service-latency.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mr_opensearch import Searcher, connect_cluster  # noqa: E402
from mr_opensearch.search.judgments import read_judgments  # noqa: E402
from mr_opensearch.search.queries import (  # noqa: E402
    bm25_body,
    default_settings,
    knn_body,
    live_index,
    msearch_lines,
)

MODES = ("bm25", "dense", "hybrid")


def start_service(url: str, alias: str, home: str | None) -> tuple[subprocess.Popen, str, int]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **({"MROS_HOME": home} if home else {})}
    process = subprocess.Popen([sys.executable, "-m", "mr_opensearch", "--no-progress", "serve", "--alias", alias,
                                "--url", url, "--port", "0", "--max-concurrency", "64"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        found = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if found:
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, found.group(1), int(found.group(2))
    raise SystemExit("mros serve did not start")


def node_process(url: str) -> Any:
    """The process listening on ``url``'s port (the OpenSearch node), or None."""
    port = urllib.parse.urlsplit(url).port or 9200
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    return None


def cpu_seconds(process: Any) -> float:
    if process is None:
        return float("nan")
    times = process.cpu_times()
    return times.user + times.system


def run_load(send: Any, queries: list[str], clients: int, seconds: float,
             watch: dict[str, Any] | None = None) -> dict[str, Any]:
    """``clients`` threads, each with its own connection (``send(state, query)``), for ``seconds``; with
    ``watch`` (name -> process), each process's CPU milliseconds per answered request."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(offset: int) -> None:
        state: dict[str, Any] = {}
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                send(state, queries[i % len(queries)])
                elapsed = (time.perf_counter() - start) * 1000.0
                with lock:
                    latencies.append(elapsed)
            except Exception:  # counted: a load test reports failures
                with lock:
                    errors[0] += 1
                state.clear()
            i += clients

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    cpu_before = {name: cpu_seconds(process) for name, process in (watch or {}).items()}
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    arr = np.asarray(latencies)
    cpu = {f"{name}_cpu_ms_per_request": 1000.0 * (cpu_seconds(process) - cpu_before[name]) / max(1, len(latencies))
           for name, process in (watch or {}).items()}
    return {"requests": len(latencies) + errors[0], "errors": errors[0], "qps": len(latencies) / wall,
            "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "p99_ms": float(np.percentile(arr, 99)), **cpu}


def service_sender(host: str, port: int, mode: str) -> Any:
    def send(state: dict[str, Any], query: str) -> None:
        conn = state.get("conn") or http.client.HTTPConnection(host, port, timeout=30)
        state["conn"] = conn
        conn.request("GET", "/search?" + urllib.parse.urlencode({"q": query, "mode": mode, "k": 10}))
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{answer.status} {body[:200]!r}")

    return send


def cluster_sender(client: Any, index: str, manifest: Any, vectors: dict[str, Any], mode: str) -> Any:
    settings = default_settings(manifest)
    depth = int(settings.pagination_depth)

    def send(_state: dict[str, Any], query: str) -> None:
        if mode == "bm25":
            client.search(index=index, body=bm25_body(query, manifest.text_fields, 10))
        elif mode == "dense":
            client.search(index=index, body=knn_body(vectors[query], 10, 10))
        else:
            client.msearch(body=msearch_lines(index, [bm25_body(query, manifest.text_fields, depth),
                                                      knn_body(vectors[query], depth, depth)]))

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--judgments", type=Path, required=True, help="queries are taken from it (the test split)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of hybrid load before measuring")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    queries = list(dict.fromkeys(read_judgments(args.judgments, split="test").queries))[: args.queries]
    client = connect_cluster(args.url)
    index, manifest = live_index(client, args.alias)
    searcher = Searcher(client, args.alias)  # the query encoder as the service holds it
    embedder = searcher.embedder(searcher.live())
    if hasattr(embedder.encoder, "compile_static_shapes"):
        embedder.encoder.compile_static_shapes().join()
    single = []
    for query in queries[:200]:
        start = time.perf_counter()
        embedder.encode([query])
        single.append((time.perf_counter() - start) * 1000.0)
    vectors = dict(zip(queries, embedder.encode(queries), strict=True))
    process, host, port = start_service(args.url, args.alias, os.environ.get("MROS_HOME"))
    watch = {"service": psutil.Process(process.pid), "node": node_process(args.url)}
    run_load(service_sender(host, port, "hybrid"), queries, 4, args.warmup)
    segments = client.cat.segments(index=index, format="json")
    results: dict[str, Any] = {"alias": args.alias, "index": index, "documents": manifest.documents,
                               "encoder_variant": manifest.encoder_variant, "segments": len(segments),
                               "queries": len(queries), "seconds_per_load": args.seconds,
                               "query_embedding_ms": {"p50": float(np.percentile(single, 50)),
                                                      "p99": float(np.percentile(single, 99))},
                               "cpu_count": os.cpu_count(), "modes": {}}
    try:
        for mode in MODES:
            results["modes"][mode] = {}
            for clients in (int(c) for c in args.clients.split(",")):
                row = {"service": run_load(service_sender(host, port, mode), queries, clients, args.seconds, watch),
                       "cluster": run_load(cluster_sender(client, index, manifest, vectors, mode), queries, clients,
                                           args.seconds, {"node": watch["node"]})}
                row["overhead_p50_ms"] = row["service"]["p50_ms"] - row["cluster"]["p50_ms"]
                results["modes"][mode][str(clients)] = row
                print(f"{mode:>6} {clients:>2} clients: service p50 {row['service']['p50_ms']:.1f} p99 "
                      f"{row['service']['p99_ms']:.1f} ms {row['service']['qps']:.0f} QPS | cluster p50 "
                      f"{row['cluster']['p50_ms']:.1f} p99 {row['cluster']['p99_ms']:.1f} ms "
                      f"{row['cluster']['qps']:.0f} QPS | overhead p50 {row['overhead_p50_ms']:+.1f} ms | errors "
                      f"{row['service']['errors']}/{row['cluster']['errors']} | CPU ms/request: service "
                      f"{row['service']['service_cpu_ms_per_request']:.1f}, node {row['service']['node_cpu_ms_per_request']:.1f}"
                      f" (cluster alone {row['cluster']['node_cpu_ms_per_request']:.1f})", flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        results["service_exit_code"] = process.wait(60)
    args.out.write_text(json.dumps(results, indent=2))
    plot(results, args.out.with_suffix(".png"))


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, mode in zip(axes, MODES, strict=True):
        rows = results["modes"][mode]
        counts = [int(c) for c in rows]
        for side, style in (("service", "-o"), ("cluster", "--s")):
            ax.plot(counts, [rows[str(c)][side]["p50_ms"] for c in counts], style, label=f"{side} p50")
            ax.plot(counts, [rows[str(c)][side]["p99_ms"] for c in counts], style, alpha=0.5, label=f"{side} p99")
        ax.set_title(mode)
        ax.set_xlabel("clients")
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [str(c) for c in counts])
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"mros serve vs the cluster's own round trip ({results['documents']:,} products, 2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
