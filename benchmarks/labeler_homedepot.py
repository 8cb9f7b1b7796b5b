"""Labeler benchmark on the Home Depot data (heavy: not a test). Runs the real CLI commands and
records what they print:

1. ``mros label train`` the default labeler (cross-encoder on all-MiniLM-L6-v2) under a time budget;
   held-out metrics come from its metrics.json (test queries: never trained on).
2. The reference: grading by two thresholds on the base encoder's cosine, thresholds fitted on the
   validation queries, scored on the same test queries.
3. ``mros label apply`` throughput (pairs/s on CPU) on test pairs.
4. The audit experiment: ``mros label simulate-engagement`` on the test queries with known shares
   of corrupted labels (5/10/20%), then ``mros label audit --truth`` to count how many it recovers.

    python benchmarks/labeler_homedepot.py --data ../shared/data/homedepot --out runs/labeler-bench \\
        --train-minutes 25

Writes OUT/results.json and OUT/results.md (the tables used in docs/labeler.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

MROS = [str(Path(sys.executable).with_name("mros"))]


def run(args: list[str], log: list[dict]) -> dict:
    """Run an mros command with --json, return its parsed stdout; the command line is logged."""
    command = [*MROS, "--no-progress", *args]
    printable = "mros " + " ".join(shlex.quote(a) for a in [*args])
    print(f"$ {printable}", flush=True)
    start = time.time()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # messages (stderr) pass through
    seconds = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {printable}")
    log.append({"command": printable, "wall_seconds": round(seconds, 1)})
    print(f"  ({seconds:.0f} s)", flush=True)
    return json.loads(proc.stdout)


def cosine_baseline(data: Path) -> dict:
    from trainer.encoder import load_encoder
    from trainer.labeler.baseline import cosine_threshold_baseline
    from trainer.labeler.config import LabelerConfig
    from trainer.labeler.train import load_labeled_data, pairs_of

    config = LabelerConfig()
    config.data.dir = data
    catalog, splits = load_labeled_data(config)
    val_pairs, val_labels = pairs_of(splits["validation"], catalog)
    test_pairs, test_labels = pairs_of(splits["test"], catalog)
    encoder = load_encoder(config.base_model(), max_seq_length=64, device="cpu")
    return cosine_threshold_baseline(encoder, val_pairs, val_labels, test_pairs, test_labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--out", type=Path, default=Path("runs/labeler-bench"))
    parser.add_argument("--train-minutes", type=float, default=25.0)
    parser.add_argument("--epochs", type=float, default=1.0,
                        help="planned epochs; the time budget shortens the schedule to fit")
    parser.add_argument("--max-train-pairs", type=int, default=None)
    parser.add_argument("--backbone", default="default")
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--apply-pairs", type=int, default=3000, help="test pairs labeled for the throughput figure")
    parser.add_argument("--noise", default="0.05,0.10,0.20", help="comma-separated label-noise rates to inject")
    parser.add_argument("--skip-train", action="store_true", help="reuse OUT/labeler")
    args = parser.parse_args()

    import pandas as pd

    from trainer.labeler.config import LabelerConfig
    from trainer.labeler.train import load_labeled_data

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    labeler = out / "labeler"
    catalog = args.data / "products.csv"
    commands: list[dict] = []
    results: dict = {"commands": commands}

    if not args.skip_train:
        train = ["label", "train", "--data", str(args.data), "--out", str(labeler), "--epochs", str(args.epochs),
                 "--backbone", args.backbone,
                 "--max-seq-length", str(args.max_seq_length), "--batch-size", str(args.batch_size),
                 "--max-minutes", str(args.train_minutes), "--json"]
        if args.max_train_pairs:
            train[-1:-1] = ["--max-train-pairs", str(args.max_train_pairs)]
        run(train, commands)
    results["labeler"] = json.loads((labeler / "metrics.json").read_text())

    print("cosine-threshold baseline ...", flush=True)
    start = time.time()
    results["cosine_baseline"] = cosine_baseline(args.data)
    results["cosine_baseline"]["seconds"] = round(time.time() - start, 1)
    print({k: results["cosine_baseline"][k] for k in ("accuracy", "within1_accuracy", "macro_f1")}, flush=True)

    config = LabelerConfig()
    config.data.dir = args.data
    _, splits = load_labeled_data(config)
    test = splits["test"].frame.rename(columns={"product_id": "product_uid"})
    pairs = out / "test_pairs.csv"
    test[["query", "product_uid"]].head(args.apply_pairs).to_csv(pairs, index=False)
    applied = out / "applied.csv"
    applied.unlink(missing_ok=True)
    results["apply"] = run(["label", "apply", "--labeler", str(labeler), "--pairs", str(pairs), "--catalog",
                            str(catalog), "--out", str(applied), "--json"], commands)
    results["apply"]["command_wall_seconds"] = commands[-1]["wall_seconds"]
    resumed = run(["label", "apply", "--labeler", str(labeler), "--pairs", str(pairs), "--catalog", str(catalog),
                   "--out", str(applied), "--json"], commands)
    results["apply"]["rerun_labeled"] = resumed["labeled"]
    assert len(pd.read_csv(applied)) == min(args.apply_pairs, len(test))

    results["audits"] = []
    for rate in [float(x) for x in args.noise.split(",")]:
        tag = f"noise{round(100 * rate):02d}"
        log = out / f"engagement_{tag}.csv"
        noisy = out / f"labels_{tag}.csv"
        simulated = run(["label", "simulate-engagement", "--labels", str(args.data / "judgments.csv"),
                         "--catalog", str(catalog), "--split", "test", "--out", str(log), "--noise", str(rate),
                         "--noisy-out", str(noisy), "--seed", "0", "--json"], commands)
        audited = run(["label", "audit", "--labeler", str(labeler), "--labels", str(noisy), "--engagement", str(log),
                       "--catalog", str(catalog), "--out", str(out / f"audited_{tag}.csv"),
                       "--truth", str(out / f"labels_{tag}.truth.csv"), "--json"], commands)
        results["audits"].append({"noise": rate, "simulate": simulated, "audit": audited})

    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "results.md").write_text(render(results))
    print(render(results))


def render(r: dict) -> str:
    m, b = r["labeler"], r["cosine_baseline"]
    rows = [("default labeler (MiniLM-L6 cross-encoder + stacked features)" if "cross_encoder" in m
             else "default labeler (MiniLM-L6 cross-encoder)", m)]
    if "cross_encoder" in m:
        rows.append(("its cross-encoder alone", m["cross_encoder"]))
    rows.append(("cosine thresholds on the base encoder", b))
    lines = ["| grader (test queries) | accuracy | within-1 | macro-F1 | P/R irrelevant | P/R partial | P/R exact |",
             "|---|---|---|---|---|---|---|"]
    for name, x in rows:
        pc = x["per_class"]
        pr = " | ".join(f"{pc[g]['precision']:.3f} / {pc[g]['recall']:.3f}" for g in ("irrelevant", "partial", "exact"))
        lines.append(f"| {name} | {x['accuracy']:.4f} | {x['within1_accuracy']:.4f} | {x['macro_f1']:.4f} | {pr} |")
    lines.append(f"| majority class of the training split | {m['majority_baseline_accuracy']:.4f} | 1.0 | | | | |")
    lines.append("| paper's labeler (its own data) | 0.876 | 0.988 | | | | |")
    c = m["calibration"]
    lines += ["", f"- test pairs {m['n']}; confusion matrix (rows true irrelevant/partial/exact): {m['confusion_matrix']}",
              f"- training: {m['train_steps']} steps of {m['planned_steps']} planned, {m['train_pairs_seen']} pairs, "
              f"{m['train_seconds'] / 60:.1f} min (time budget hit: {m['stopped_by_time_budget']})",
              f"- temperature {c['temperature']:.3f}; ECE validation {c['validation_ece_before']:.4f} -> "
              f"{c['validation_ece_after']:.4f}, test {c['test_ece_before']:.4f} -> {c['test_ece_after']:.4f}",
              f"- cosine thresholds: partial >= {b['t_partial']:.4f}, exact >= {b['t_exact']:.4f}"]
    if "stacking" in m:
        lines.append(f"- stacking (features, trees, combiner): {m['stacking']['seconds']:.0f} s, "
                     f"{m['stacking']['tree_iterations']} tree iterations")
    a = r["apply"]
    lines += [f"- apply: {a['labeled']} pairs at {a['pairs_per_second']} pairs/s (labeling loop), whole command "
              f"{a['command_wall_seconds']} s; rerun labeled {a['rerun_labeled']} (resume)"]
    lines += ["", "| injected noise | pairs | wrong labels | tested | flagged (over/under) | flag precision / recall "
              "| changed | fixed / moved closer / broken | error rate before -> after | change (paper: -5.74 pts) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in r["audits"]:
        au, rec = entry["audit"], entry["audit"]["recovery"]
        lines.append(
            f"| {entry['noise']:.0%} | {au['pairs']} | {rec['errors_before']} | {au['tested']} | {au['flagged']} "
            f"({au['flagged_over']}/{au['flagged_under']}) | {rec['flag_precision']:.3f} / {rec['flag_recall']:.3f} | "
            f"{au['changed']} | {rec['errors_fixed']} / {rec['errors_moved_closer']} / {rec['errors_introduced']} | "
            f"{rec['error_rate_before']:.2%} -> {rec['error_rate_after']:.2%} | "
            f"{100 * (rec['error_rate_after'] - rec['error_rate_before']):+.2f} pts |")
    lines += ["", "audit by grade: " + "; ".join(f"{e['noise']:.0%}: {json.dumps(e['audit']['by_grade'])}"
                                                  for e in r["audits"])]
    lines += ["", "Commands:", ""] + [f"    {c['command']}   # {c['wall_seconds']} s" for c in r["commands"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
