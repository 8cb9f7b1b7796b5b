"""A live catalog's daily update: an incremental deploy and ``--in-place`` against a full deploy of the same
catalog, at several changed fractions, in one run on the same node (issue #31).

From the shared catalog (v0, deployed once in full), each fraction ``f`` makes a catalog with ``f`` of the
products changed: half of them edited (a word added to the title), a quarter added (new ids), a quarter
removed. For each, on the same alias and node, in this order:

1. **incremental**: ``deploy`` of the changed catalog (a new index; the unchanged texts keep their vectors),
   by ``--copy clone`` (the default); at the ``--read-fractions`` also by ``--copy read``, for comparison;
2. **full**: the same catalog with ``full=True`` (every product embedded; the baseline of the issue);
3. **in-place**: ``--in-place`` of the changed catalog onto the v0 index, then (untimed for the figures, but
   reported) ``--in-place`` of v0 again, which restores the index for the next fraction.

After steps 1 and 2 the alias goes back to the v0 index and the new index is deleted. Each timing is wall
seconds of the whole deploy call (lock, reads, writes, refresh), with per-phase wall seconds, mros's CPU
seconds and the node's CPU seconds (``_nodes/stats`` process CPU, read at each phase's start and end).

The Ray part (``--ray-sample N``): titles/s of the Ray Data example (docs/examples/ray_embed_catalog.py) with 1
and 2 encoder actors on this machine, against ``mros embed`` (the in-process encoder) on the same N titles.

    python benchmarks/live_catalog.py --run /work/runs/quick-after --url http://127.0.0.1:9200 \\
        --catalog ../shared/data/homedepot/products.csv --out docs/benchmarks/live-catalog.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mr_opensearch import connect_cluster  # noqa: E402
from mr_opensearch.core.catalog import ServingCatalog, read_catalog  # noqa: E402
from mr_opensearch.deploy.deploy import DeployOptions, deploy  # noqa: E402
from mr_opensearch.deploy.in_place import update_in_place  # noqa: E402
from mr_opensearch.search.served_model import load_run  # noqa: E402

ALIAS = "mros-bench-live"


def node_cpu_seconds(client: Any) -> float:
    stats = client.nodes.stats(metric="process")["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in stats.values()) / 1000.0


def changed_catalog(base: ServingCatalog, fraction: float, seed: int) -> tuple[ServingCatalog, dict[str, int]]:
    """``base`` with ``fraction`` of its size changed: half edits, a quarter additions, a quarter removals."""
    rng = random.Random(seed)
    n = max(4, round(fraction * len(base.ids)))
    picked = rng.sample(range(len(base.ids)), n // 2 + n // 4)
    edits, removals = set(picked[: n // 2]), set(picked[n // 2 :])
    ids, titles = [], []
    for i, (pid, title) in enumerate(zip(base.ids, base.titles, strict=True)):
        if i in removals:
            continue
        ids.append(pid)
        titles.append(f"{title} {rng.choice(['new', 'pro', 'plus', 'deluxe', 'v2'])}" if i in edits else title)
    donors = rng.sample(base.titles, n // 4)
    ids += [f"bench-new-{seed}-{i}" for i in range(n // 4)]
    titles += [f"{t} bundle" for t in donors]
    return ServingCatalog(ids=ids, titles=titles), {"edited": len(edits), "added": n // 4, "removed": len(removals)}


def timed(call: Any, client: Any) -> dict[str, Any]:
    node_before, started = node_cpu_seconds(client), time.perf_counter()
    cpu_before = time.process_time()
    outcome = call()
    return {"seconds": round(time.perf_counter() - started, 2), "mros_cpu_seconds": round(time.process_time() - cpu_before, 2),
            "node_cpu_seconds": round(node_cpu_seconds(client) - node_before, 2),
            "embedded": outcome.embedded, "copied": outcome.copied, "removed": outcome.removed,
            "written": outcome.written, "index": outcome.index, "phase_seconds": outcome.phase_seconds,
            "phase_counters": outcome.phase_counters}


def restore(client: Any, base_index: str, drop: str | None) -> None:
    live = list(client.indices.get_alias(name=ALIAS))
    actions = [{"remove": {"index": i, "alias": ALIAS}} for i in live if i != base_index]
    actions.append({"add": {"index": base_index, "alias": ALIAS}})
    client.indices.update_aliases(body={"actions": actions})
    if drop and drop != base_index:
        client.indices.delete(index=drop, ignore_unavailable=True)


def ray_part(run: Path, catalog: ServingCatalog, sample: int) -> dict[str, Any]:
    """Titles/s of the Ray example with 1 and 2 actors and of ``mros embed``, on the same titles."""
    out: dict[str, Any] = {"titles": sample}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.csv"
        import csv

        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["product_uid", "product_title"])
            writer.writerows(list(zip(catalog.ids, catalog.titles, strict=True))[:sample])
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MROS_NO_PROGRESS": "1"}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mr_opensearch", "--quiet", "embed", "--run", str(run), "--catalog",
                        str(path), "--out", str(Path(tmp) / "mros.parquet")], env=env, check=True)
        out["mros_embed"] = {"seconds": round(time.perf_counter() - started, 2)}
        for actors in (1, 2):
            started = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "ray_embed_catalog.py"), "--run", str(run),
                            "--catalog", str(path), "--out", str(Path(tmp) / f"ray-{actors}.parquet"), "--actors",
                            str(actors)], env=env, check=True, capture_output=True)
            out[f"ray_{actors}_actors"] = {"seconds": round(time.perf_counter() - started, 2)}
    for value in out.values():
        if isinstance(value, dict):
            value["titles_per_second"] = round(sample / value["seconds"], 1)
    return out


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(results["fractions"], key=lambda r: r["fraction"])
    xs = [r["fraction"] * 100 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for key, label, marker in (("full", "full deploy", "s"), ("incremental", "incremental deploy (--copy clone)", "o"),
                               ("incremental_read", "incremental deploy (--copy read)", "x"),
                               ("in_place", "--in-place", "^")):
        have = [(x, r[key]["seconds"]) for x, r in zip(xs, rows, strict=True) if key in r]
        ax.plot([x for x, _ in have], [y for _, y in have], marker=marker, label=label)
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:g}%" for x in xs])
    ax.set_xlabel("catalog changed (half edits, a quarter additions, a quarter removals)")
    ax.set_ylabel("wall seconds")
    ax.set_title(f"Daily update of a {results['products']:,}-product catalog (client mode, 2 cores)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--url", default="http://127.0.0.1:9200")
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--fractions", default="0.001,0.01,0.1,0.5")
    parser.add_argument("--full-fractions", default=None, help="fractions that also get a full deploy (default: all)")
    parser.add_argument("--read-fractions", default="0.01",
                        help="fractions that also get an incremental deploy by --copy read ('' for none)")
    parser.add_argument("--ray-sample", type=int, default=6000, help="titles for the Ray part (0: skip it)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    client = connect_cluster(args.url, timeout=600)
    model = load_run(args.run)
    base = read_catalog(args.catalog)
    counters = {"node_cpu_seconds": lambda: node_cpu_seconds(client)}
    options = {"alias": ALIAS, "embedding": "client", "allow_shrink": True, "phase_counters": counters}
    for name in list(client.indices.get(index=f"{ALIAS}-*")):
        client.indices.delete(index=name)
    print(f"v0: full deploy of {len(base.ids)} products", flush=True)
    first = timed(lambda: deploy(client, model, base, DeployOptions(**options), log=lambda _: None), client)
    base_index = first["index"]
    results: dict[str, Any] = {"products": len(base.ids), "run": str(args.run), "v0_full": first, "fractions": []}
    fractions = [float(f) for f in args.fractions.split(",")]
    with_full = fractions if args.full_fractions is None else [float(f) for f in args.full_fractions.split(",")]
    read_fractions = [float(f) for f in args.read_fractions.split(",") if f.strip()]
    for k, fraction in enumerate(fractions):
        catalog, changes = changed_catalog(base, fraction, args.seed + k)
        row: dict[str, Any] = {"fraction": fraction, "changes": changes}
        print(f"{fraction:.1%}: {changes}", flush=True)
        row["incremental"] = timed(lambda c=catalog: deploy(client, model, c, DeployOptions(**options),
                                                            log=lambda _: None), client)
        restore(client, base_index, row["incremental"]["index"])
        if fraction in read_fractions:
            row["incremental_read"] = timed(lambda c=catalog: deploy(client, model, c, DeployOptions(**options,
                                                                                                    copy="read"),
                                                                     log=lambda _: None), client)
            restore(client, base_index, row["incremental_read"]["index"])
        if fraction in with_full:
            row["full"] = timed(lambda c=catalog: deploy(client, model, c, DeployOptions(**options, full=True),
                                                         log=lambda _: None), client)
            restore(client, base_index, row["full"]["index"])
        row["in_place"] = timed(lambda c=catalog: update_in_place(client, model, c, DeployOptions(**options),
                                                                  log=lambda _: None), client)
        row["in_place_back"] = timed(lambda: update_in_place(client, model, base, DeployOptions(**options),
                                                             log=lambda _: None), client)
        # the full deploy of this catalog when measured, else that of v0 (the same size within 0.1%)
        full_seconds = row["full"]["seconds"] if "full" in row else results["v0_full"]["seconds"]
        row["full_baseline"] = "this catalog" if "full" in row else "v0"
        row["incremental_share_of_full"] = round(row["incremental"]["seconds"] / full_seconds, 4)
        row["in_place_share_of_full"] = round(row["in_place"]["seconds"] / full_seconds, 4)
        if "incremental_read" in row:
            row["incremental_read_share_of_full"] = round(row["incremental_read"]["seconds"] / full_seconds, 4)
        print(f"  incremental {row['incremental']['seconds']} s, in place {row['in_place']['seconds']} s, full "
              f"{full_seconds} s", flush=True)
        results["fractions"].append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if args.ray_sample:
        print(f"ray: {args.ray_sample} titles", flush=True)
        results["ray"] = ray_part(args.run, base, args.ray_sample)
    args.out.write_text(json.dumps(results, indent=2))
    plot(results, args.out.with_suffix(".png"))
    print(json.dumps({r["fraction"]: {"incremental": r["incremental_share_of_full"],
                                      "in_place": r["in_place_share_of_full"]} for r in results["fractions"]}))


if __name__ == "__main__":
    main()
