"""Chaos benchmark of `mros deploy`: SIGKILL at random times, rerun, until it converges (issue #19, point 1).

On a catalog (default: the full shared Home Depot catalog, 54,667 products) and an exported run, in
client mode against a real node:

1. the alias's indices and lock are removed, so the deploy starts from nothing;
2. loop: start ``python -m mr_opensearch deploy`` as a subprocess, wait a random time (seeded,
   uniform in ``--min-delay .. --max-delay`` seconds after the start), ``SIGKILL`` it; after each kill
   the alias must point only at complete indices whose document count matches their manifest; until
   ``--kills`` kills have landed (a run that finishes before its kill time ends the loop early and
   is reported);
3. a final uninterrupted run; it must exit 0;
4. the end state: alias on one complete index; every catalog id exactly once (``_id`` s and
   ``product_id`` values): documents lost (catalog ids missing), duplicates, unexpected ids.

A watcher thread polls ``GET /<alias>/_mapping`` every 50 ms for the whole benchmark and counts the
moments the alias was on an index without ``_meta.complete = true`` (must be 0). Documents indexed in
total (``_stats`` ``indexing.index_total`` of the new index) over the catalog size shows how much work
the kills cost (1.0 = nothing sent twice).

    python benchmarks/deploy_chaos.py --run runs/bench-base --url http://127.0.0.1:9261 \\
        --catalog /work/shared/data/homedepot/products.csv --kills 20 --seed 19 \\
        --out docs/benchmarks/deploy-chaos.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.tools.alias_watcher import AliasWatcher  # noqa: E402


def alias_state(client: Any, alias: str) -> dict[str, Any]:
    """The indices behind the alias, each with its manifest's completeness and document counts."""
    if not client.indices.exists_alias(name=alias):
        return {"indices": [], "ok": True}
    rows, ok = [], True
    for index in sorted(client.indices.get_alias(name=alias)):
        meta = client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}
        count = client.count(index=index)["count"]
        good = meta.get("complete") is True and count == meta.get("documents")
        ok = ok and good
        rows.append({"index": index, "complete": meta.get("complete"), "count": count,
                     "expected": meta.get("documents")})
    return {"indices": rows, "ok": ok}


def indexed_total(client: Any, alias: str) -> int:
    """Documents indexed (refreshed or not) into all of the alias's mros indices so far."""
    stats = client.indices.stats(index=f"{alias}-*", metric="indexing")
    return sum(v["primaries"]["indexing"]["index_total"] for v in stats["indices"].values())


def subset_catalog(catalog: Path, limit: int, folder: Path) -> Path:
    out = folder / f"catalog-{limit}.csv"
    with open(catalog, encoding="utf-8", newline="") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        for i, row in enumerate(reader):
            if i > limit:
                break
            writer.writerow(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, default=Path("/work/shared/data/homedepot/products.csv"))
    parser.add_argument("--max-products", type=int, default=None, help="only the first N products (a quick check)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--alias", default="mros-chaos")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--min-delay", type=float, default=3.0)
    parser.add_argument("--max-delay", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from opensearchpy import OpenSearch, helpers

    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.deploy.alias_lock import LOCK_INDEX

    client = OpenSearch(hosts=[args.url], timeout=120)
    work = Path(tempfile.mkdtemp(prefix="mros-chaos-"))
    catalog = subset_catalog(args.catalog, args.max_products, work) if args.max_products else args.catalog
    ids = list(read_catalog(catalog).ids)
    for name in list(client.indices.get(index=f"{args.alias}-*", ignore_unavailable=True, allow_no_indices=True)):
        client.indices.delete(index=name)
    if client.indices.exists(index=LOCK_INDEX):
        client.delete(index=LOCK_INDEX, id=args.alias, refresh="true", ignore=[404])

    env = {**os.environ, "MROS_HOME": str(work / "home")}
    env.pop("MROS_FAULT_KILL_AT", None)
    command = [sys.executable, "-m", "mr_opensearch", "--no-progress", "deploy", "--run", str(args.run), "--catalog",
               str(catalog), "--alias", args.alias, "--url", args.url, "--embedding", "client",
               "--batch-size", str(args.batch_size), "--json"]
    rng = random.Random(args.seed)
    watcher = AliasWatcher(args.url, args.alias, every=0.05).start()
    started = time.time()
    runs: list[dict[str, Any]] = []
    kills = 0
    finished_early = False
    last_kill_at = started
    while kills < args.kills:
        delay = rng.uniform(args.min_delay, args.max_delay)
        before = indexed_total(client, args.alias) if runs else 0
        t0 = time.time()
        log = work / f"run-{len(runs):02d}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
            try:
                proc.wait(timeout=delay)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
        last_kill_at = time.time() if killed else last_kill_at
        state = alias_state(client, args.alias)
        after = indexed_total(client, args.alias)
        text = log.read_text()
        runs.append({"run": len(runs), "killed": killed, "delay_s": round(delay, 2), "returncode": proc.returncode,
                     "seconds": round(time.time() - t0, 2), "documents_added": after - before,
                     "resumed": "resuming the incomplete index" in text, "took_over_lock": "taking over the lock" in text,
                     "alias_ok": state["ok"], "alias": state["indices"]})
        print(json.dumps(runs[-1]), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"status": "running: the kills so far", "products": len(ids),
                                        "seconds_so_far": round(time.time() - started, 1), "runs": runs}, indent=2))
        if killed:
            kills += 1
        else:
            finished_early = True
            break

    t_final = time.time()
    final = subprocess.run(command, env=env, capture_output=True, text=True)
    final_seconds = time.time() - t_final
    converged_at = time.time()
    watcher.stop()
    outcome = json.loads(final.stdout) if final.returncode == 0 else {}
    state = alias_state(client, args.alias)
    found_ids: list[str] = []
    product_ids: list[str] = []
    if outcome:
        index = outcome["index"]
        client.indices.refresh(index=index)
        for hit in helpers.scan(client, index=index, query={"_source": ["product_id"], "query": {"match_all": {}}},
                                size=5000):
            found_ids.append(hit["_id"])
            product_ids.append(hit["_source"]["product_id"])
    wanted = set(ids)
    result = {
        "status": "finished",
        "command": " ".join(["benchmarks/deploy_chaos.py", *sys.argv[1:]]),
        "catalog": str(catalog), "products": len(ids), "seed": args.seed,
        "kills": kills, "kills_wanted": args.kills, "finished_before_a_kill": finished_early,
        "final_returncode": final.returncode, "final_action": outcome.get("action"),
        "final_written": outcome.get("written"), "final_already_present": outcome.get("already_present"),
        "final_run_seconds": round(final_seconds, 1),
        "documents_lost": len(wanted - set(found_ids)),
        "duplicates": len(found_ids) - len(set(found_ids)),
        "unexpected_ids": len(set(found_ids) - wanted),
        "product_id_mismatches": sum(1 for a, b in zip(found_ids, product_ids, strict=True) if a != b),
        "alias_on_one_complete_index": state["ok"] and len(state["indices"]) == 1,
        "alias_ok_after_every_kill": all(r["alias_ok"] for r in runs),
        "watcher_polls": watcher.polls, "watcher_saw_incomplete": len(watcher.incomplete),
        "watcher_errors": watcher.errors,
        "documents_indexed_total": indexed_total(client, args.alias),
        "seconds_to_converge_total": round(converged_at - started, 1),
        "seconds_to_converge_after_last_kill": round(converged_at - last_kill_at, 1),
        "runs": runs,
        "final_stderr_tail": final.stderr[-2000:],
    }
    result["index_work_ratio"] = round(result["documents_indexed_total"] / len(ids), 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k not in ("runs", "final_stderr_tail")}
    print(json.dumps(summary, indent=2))
    sys.exit(0 if final.returncode == 0 and not result["documents_lost"] and not result["duplicates"] else 1)


if __name__ == "__main__":
    main()
