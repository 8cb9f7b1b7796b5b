"""Node loss on a local 3-node cluster: a data node SIGKILLed during a deploy, during `mros eval`'s search
load and during `mros serve`'s (issue #33, point 4).

In one run, on a fresh cluster of ``--nodes`` nodes (``mros opensearch up --nodes N``, ``--heap`` each, node
folders under ``--work``) on the HTTP ports ``--port ..`` (transport +100):

1. **deploy**: the first ``--products`` products of the catalog are deployed in client mode to every node's
   URL (one replica: what a deploy picks on several data nodes); once ``--kill-at`` of them are indexed,
   the node holding the new index's primary is SIGKILLed. The deploy finishes through its retries, or it
   stops and, after the node is back, a rerun finishes it. Reported: the attempts (exit code, seconds,
   retries, message), documents lost / duplicated / unexpected in the live index, polls of the alias that
   saw it on an incomplete index (a watcher every 50 ms), and the seconds from ``up`` (restart of the
   killed node) to green;
2. **eval**: ``mros eval --alias --modes hybrid --clients C --load-seconds S`` on every node's URL; ``--kill-after``
   seconds into the timed load the primary's node is SIGKILLed. Reported: requests, failed queries, the
   window they fell in (first and last failure after the load's start), p50/p99/max latency, retries,
   time back to green;
3. **serve**: the same against ``mros serve`` (HTTP ``GET /search``, hybrid) under C clients: answers other
   than 200 are failed queries.

The model is a tiny random encoder (tests/tiny_models.py) whose vocabulary is learned from the catalog's
titles: what is measured here (documents, failures, recovery) does not depend on the model's quality,
and the deploy's time is the cluster's, not the encoder's.

    python benchmarks/node_loss.py --port 10200 --products 20000 --out docs/benchmarks/node-loss.json
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mr_opensearch.cluster.node import lifecycle  # noqa: E402
from tests.tools import node_loss  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "homedepot"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/homedepot")


def subset_catalog(catalog: Path, products: int, out: Path) -> tuple[Path, list[str]]:
    """The first ``products`` rows of ``catalog`` as a CSV; returns it and the titles."""
    with open(catalog, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:products]
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["product_uid", "product_title"])
        writer.writeheader()
        writer.writerows({"product_uid": r["product_uid"], "product_title": r["product_title"]} for r in rows)
    return out, [r["product_title"] for r in rows]


def tiny_run(work: Path, titles: list[str]) -> Path:
    """A run directory (``onnx/``) of a tiny random encoder whose vocabulary comes from ``titles``."""
    from tiny_models import build_tiny_sentence_transformer

    from trainer.export import export_for_ml_commons

    run = work / "run"
    if not (run / "onnx" / "ml-commons.json").is_file():
        model = build_tiny_sentence_transformer(work / "model", titles[:20000])
        export_for_ml_commons(model, run / "onnx", name="mros-node-loss")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=10200)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--heap", default="512m")
    parser.add_argument("--catalog", type=Path, default=DATA / "products.csv")
    parser.add_argument("--judgments", type=Path, default=DATA / "judgments.csv")
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of the catalog indexed when the node dies")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--load-seconds", type=float, default=30.0)
    parser.add_argument("--kill-after", type=float, default=8.0, help="seconds into a search load")
    parser.add_argument("--max-queries", type=int, default=300)
    parser.add_argument("--work", type=Path, default=None, help="folder for the run, the catalog and the nodes")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="mros-node-loss-"))
    work.mkdir(parents=True, exist_ok=True)
    catalog, titles = subset_catalog(args.catalog, args.products, work / "products.csv")
    run = tiny_run(work, titles)
    # judgments of the products in the subset only, so the eval's coverage check passes
    with open(catalog, encoding="utf-8") as fh:
        kept = {r["product_uid"] for r in csv.DictReader(fh)}
    judgments = work / "judgments.csv"
    with open(args.judgments, encoding="utf-8") as fh, open(judgments, "w", encoding="utf-8", newline="") as out:
        reader = csv.DictReader(fh)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        writer.writerows(r for r in reader if r["product_uid"] in kept)

    started = time.monotonic()
    cluster = lifecycle.up_cluster(port=args.port, nodes=args.nodes, heap=args.heap, root=work / "nodes",
                                   timeout=600, report=lambda line: print(line, file=sys.stderr))
    cluster_start_s = time.monotonic() - started
    alias = "mros-node-loss"
    try:
        print(f"deploy of {len(titles)} products, a node killed at {args.kill_at:.0%}", file=sys.stderr)
        deploy = node_loss.deploy_through_node_loss(cluster, run=run, catalog=catalog, alias=alias, home=work / "home",
                                                    kill_at=args.kill_at, batch_size=args.batch_size)
        print(json.dumps(deploy.end.__dict__), file=sys.stderr)
        print(f"mros eval: {args.clients} clients for {args.load_seconds:g} s, a node killed after "
              f"{args.kill_after:g} s", file=sys.stderr)
        search = node_loss.search_load_through_node_loss(
            cluster, alias=alias, judgments=judgments, home=work / "home", mode="hybrid", clients=args.clients,
            load_seconds=args.load_seconds, kill_after_s=args.kill_after, max_queries=args.max_queries)
        print(f"mros serve: {args.clients} clients for {args.load_seconds:g} s", file=sys.stderr)
        service = node_loss.service_load_through_node_loss(
            cluster, alias=alias, judgments=judgments, home=work / "home", mode="hybrid", clients=args.clients,
            load_seconds=args.load_seconds, kill_after_s=args.kill_after, max_queries=args.max_queries)
    finally:
        lifecycle.down_cluster(cluster)
    for attempt in deploy.attempts:  # the plan and manifest of a deploy's JSON are not figures
        if attempt.result:
            attempt.result = {k: attempt.result.get(k) for k in ("action", "documents", "written", "already_present",
                                                                 "seconds", "shards", "replicas", "warnings")}
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "cluster": {"nodes": args.nodes, "heap": args.heap, "ports": cluster.ports, "start_s": cluster_start_s},
        "products": len(titles),
        "deploy": deploy.to_json(),
        "eval_load": search.to_json(),
        "service_load": service.to_json(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({"deploy_converged": deploy.end.converged, "lost": deploy.end.lost,
                      "duplicated": deploy.end.duplicated, "deploy_attempts": [a.exit_code for a in deploy.attempts],
                      "eval_failed": search.failed, "eval_window": search.error_window,
                      "service_failed": service.failed, "service_window": service.error_window,
                      "green_after_s": [deploy.restart_to_green_s, search.restart_to_green_s,
                                        service.restart_to_green_s]}, indent=1))


if __name__ == "__main__":
    main()
