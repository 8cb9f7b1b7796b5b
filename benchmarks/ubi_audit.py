"""The UBI label audit on the Home Depot data (issue #34): does it find planted label noise, and does training on
the audited labels help?

**Part ``recovery``** (minutes). The training split's judgments (query split seed 13, as `mros train`) get
``--noise`` of their grades corrupted (``inject_label_noise``: uniformly chosen pairs, each moved to one of the
two other grades). The click simulator (position-based model, `trainer/labeler/engagement.py`) turns the *true*
grades into UBI 1.3.0 sessions at each traffic volume of ``--sessions`` (searches per query; the mean impressions
per judged pair are reported), with the engine ranking by the true grades (``truth``) or by the corrupted ones a
ranker would have been trained on (``noisy``). Each estimator (``impressions``, ``coec_srw``, ``coec``, ``pbm``)
audits the corrupted labels at the default thresholds (alpha 0.01, 30 impressions); reported: flag precision and
recall against the planted noise, and the share of pairs with enough evidence.

**Part ``training``** (two full `mros train` runs). At ``--train-sessions`` searches per query the audit (estimator
``--train-estimator``, flagged pairs dropped, or re-judged with ``--labeler``) cleans the corrupted training split;
validation and test keep their clean labels in both runs, so the test figures are paired. `mros train` runs with
the same config on the corrupted labels (A) and on the audited ones (B); `benchmarks/auc_bootstrap.py`'s paired
query bootstrap gives test nDCG@10 and the AUCs, B − A, with 95% intervals.

    python benchmarks/ubi_audit.py --part recovery --data /work/shared/data/homedepot --out runs/ubi-audit
    python benchmarks/ubi_audit.py --part training --data /work/shared/data/homedepot --out runs/ubi-audit
    python benchmarks/ubi_audit.py --part all ...          # both
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainer.config import SplitConfig  # noqa: E402
from trainer.data import load_catalog  # noqa: E402
from trainer.labeler.audit import AuditConfig, audit_labels, flag_pairs  # noqa: E402
from trainer.labeler.engagement import ClickModelConfig, inject_label_noise  # noqa: E402
from trainer.labeler.io import load_labels  # noqa: E402
from trainer.labeler.ubi import aggregate_pairs  # noqa: E402
from trainer.labeler.ubi_simulation import simulate_ubi  # noqa: E402
from trainer.splits import split_of  # noqa: E402

ESTIMATORS = ("impressions", "coec_srw", "coec", "pbm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("recovery", "training", "all"), default="recovery")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "homedepot")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--sessions", default="25,50,100,200,400", help="searches per query, comma-separated")
    parser.add_argument("--engines", default="truth,noisy", help="what the simulated engine ranks by")
    parser.add_argument("--max-queries", type=int, default=2000, help="recovery: training queries sampled "
                        "(0: all; memory grows with queries x sessions)")
    parser.add_argument("--seeds", type=int, default=1, help="recovery: simulation seeds per cell")
    parser.add_argument("--train-sessions", type=float, default=200.0)
    parser.add_argument("--train-estimator", default="coec_srw", choices=ESTIMATORS)
    parser.add_argument("--train-config", type=Path, help="config of both `mros train` runs (default: mros's)")
    parser.add_argument("--labeler", type=Path, help="training: re-judge flagged pairs with this labeler "
                        "instead of dropping them")
    parser.add_argument("--replicates", type=int, default=2000)
    return parser.parse_args(argv)


def training_labels(data: Path, noise: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(all labels, the training split's true labels, the training split with ``noise`` corrupted)."""
    labels = load_labels(data / "judgments.csv", load_catalog(data / "products.csv"))
    split = SplitConfig()
    is_train = np.array([split_of(q, split) == "train" for q in labels["query"]])
    train = labels[is_train].reset_index(drop=True)
    return labels, train, inject_label_noise(train, noise, seed)


def sample_queries(frame: pd.DataFrame, max_queries: int, seed: int = 0) -> pd.DataFrame:
    queries = frame["query"].drop_duplicates()
    if max_queries and len(queries) > max_queries:
        queries = queries.sample(max_queries, random_state=seed)
    return frame[frame["query"].isin(set(queries))].reset_index(drop=True)


def markdown(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def recovery(args: argparse.Namespace) -> dict:
    _, truth, noisy = training_labels(args.data, args.noise)
    noisy = sample_queries(noisy, args.max_queries)
    truth = noisy[["query", "product_uid", "true_grade"]].rename(columns={"true_grade": "grade"})
    rows = []
    for engine in args.engines.split(","):
        simulated = truth.assign(rank_grade=noisy["grade"]) if engine == "noisy" else truth
        for sessions in (float(s) for s in args.sessions.split(",")):
            for seed in range(args.seeds):
                start = time.perf_counter()
                events, _ = simulate_ubi(simulated, ClickModelConfig(sessions_mean=sessions, seed=seed))
                events["query_matched"] = True
                pairs = aggregate_pairs(events)
                del events
                for estimator in ESTIMATORS:
                    flagged = flag_pairs(noisy[["query", "product_uid", "grade"]], pairs,
                                         AuditConfig(estimator=estimator))
                    bad, hit = noisy["noisy"].to_numpy(), flagged["flagged"].to_numpy()
                    tested = flagged["tested"].to_numpy()
                    rows.append({"engine_ranks_by": engine, "sessions_per_query": sessions, "seed": seed,
                                 "estimator": estimator, "pairs": len(noisy), "noisy_pairs": int(bad.sum()),
                                 "mean_impressions_per_pair": float(flagged["impressions"].mean()),
                                 "tested_share": float(tested.mean()), "flagged": int(hit.sum()),
                                 "precision": float((bad & hit).sum() / hit.sum()) if hit.any() else None,
                                 "recall": float((bad & hit).sum() / bad.sum()),
                                 "recall_of_tested": float((bad & hit & tested).sum() / max((bad & tested).sum(), 1)),
                                 "seconds": time.perf_counter() - start})
                    print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    summary = (table.groupby(["engine_ranks_by", "sessions_per_query", "estimator"], sort=False)
               [["mean_impressions_per_pair", "tested_share", "precision", "recall"]].mean().reset_index())
    (args.out / "recovery.md").write_text(markdown(summary))
    return {"noise": args.noise, "queries": int(noisy["query"].nunique()), "rows": rows}


def training(args: argparse.Namespace) -> dict:
    labels, truth, noisy = training_labels(args.data, args.noise)
    cat = load_catalog(args.data / "products.csv")
    events, _ = simulate_ubi(truth, ClickModelConfig(sessions_mean=args.train_sessions, seed=0))
    events["query_matched"] = True
    pairs = aggregate_pairs(events)
    del events
    judges = []
    if args.labeler:
        from trainer.labeler.model import Labeler

        judges = [Labeler.load(args.labeler)]
    config = AuditConfig(estimator=args.train_estimator, on_flag="rejudge" if judges else "drop")
    audited, report = audit_labels(noisy[["query", "product_uid", "grade"]], pairs, judges, cat, config)
    held_out = labels[~labels["query"].isin(set(truth["query"]))][["query", "product_uid", "grade"]]
    folder = args.out / "data"
    folder.mkdir(parents=True, exist_ok=True)
    products = folder / "products.csv"
    if not products.exists():
        products.symlink_to((args.data / "products.csv").resolve())
    pd.concat([noisy[["query", "product_uid", "grade"]], held_out]).to_csv(folder / "noisy.csv", index=False)
    kept = audited[~audited["dropped"]][["query", "product_uid", "grade"]]
    pd.concat([kept, held_out]).to_csv(folder / "audited.csv", index=False)
    bad = noisy["noisy"].to_numpy()
    hit = audited["flagged"].to_numpy()
    out = {"audit": {k: report[k] for k in ("pairs", "tested", "flagged", "dropped", "changed", "not_enough_evidence")},
           "flag_precision": float((bad & hit).sum() / max(hit.sum(), 1)),
           "flag_recall": float((bad & hit).sum() / bad.sum()), "runs": {}}
    import yaml

    base = (yaml.safe_load(args.train_config.read_text()) or {}) if args.train_config else {}
    for name in ("noisy", "audited"):
        cfg = args.out / f"train-{name}.yaml"
        # both runs rank over the whole catalog: a sample of "the judged products plus others" would differ
        # between them (the audit drops judged pairs), and nDCG over different corpora is not paired
        data = {**base.get("data", {}), "judgments": f"{name}.csv", "max_catalog_products": None}
        cfg.write_text(yaml.safe_dump({**base, "data": data}))
        run = args.out / f"run-{name}"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mr_opensearch", "--no-progress", "train", "--data", str(folder),
                        "--config", str(cfg), "--out", str(run)], check=True, cwd=ROOT)
        out["runs"][name] = {"run": str(run), "minutes": (time.perf_counter() - start) / 60}
    boot = args.out / "bootstrap.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "auc_bootstrap.py"), "--run",
                    str(args.out / "run-noisy"), "--run-b", str(args.out / "run-audited"), "--a", "stage1", "--b",
                    "stage1", "--split", "test", "--replicates", str(args.replicates), "--out", str(boot)],
                   check=True, cwd=ROOT)
    out["bootstrap"] = json.loads(boot.read_text())
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    if args.part in ("recovery", "all"):
        results["recovery"] = recovery(args)
    if args.part in ("training", "all"):
        results["training"] = training(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results in {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
