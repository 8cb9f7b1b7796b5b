"""Is a change in grade-separation AUC between two models larger than the test set's noise?

Paired cluster bootstrap over test *queries*: each replicate draws the test queries with
replacement, keeps all judged pairs of the drawn queries (weighted by how often each was drawn) and
computes every pairwise AUC for both models on the same replicate. Reports each model's AUC, the
difference B - A and its 95% percentile interval. Scores come from the evaluation caches that
`mros train` / `mros evaluate` write (RUN/eval/test/NAME.json, pairs in the test split's order).

    python benchmarks/auc_bootstrap.py --run RUN --a stage1 --b stage2 [--run-b OTHER_RUN] \\
        --out docs/benchmarks/auc-bootstrap.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

PAIRS = {"auc_exact_vs_partial": ("exact", "partial"), "auc_partial_vs_irrelevant": ("partial", "irrelevant"),
         "auc_exact_vs_irrelevant": ("exact", "irrelevant")}


def weighted_auc(high: np.ndarray, w_high: np.ndarray, low: np.ndarray, w_low: np.ndarray) -> float:
    """P(score of a high-grade pair > score of a low-grade pair), ties counted half, pairs weighted:
    :func:`trainer.evaluation.metrics.pairwise_auc` with a weight per pair (bootstrap draw counts)."""
    order = np.argsort(low, kind="stable")
    low_sorted, cum = low[order], np.concatenate([[0.0], np.cumsum(w_low[order])])
    below = cum[np.searchsorted(low_sorted, high, side="left")]
    at_or_below = cum[np.searchsorted(low_sorted, high, side="right")]
    wins = below + 0.5 * (at_or_below - below)
    return float((w_high * wins).sum() / (w_high.sum() * w_low.sum()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True, help="run directory holding model A's evaluation cache")
    parser.add_argument("--run-b", type=Path, help="run directory for model B (default: --run)")
    parser.add_argument("--a", default="stage1")
    parser.add_argument("--b", default="stage2")
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from trainer.config import load_config
    from trainer.evaluation.metrics import pairwise_auc
    from trainer.run_data import load_data

    config = load_config(args.run / "config.yaml")
    test = load_data(config).splits["test"].frame
    caches = [json.loads(((args.run_b or args.run) if i else args.run).joinpath("eval", "test", f"{name}.json").read_text())
              for i, name in enumerate((args.a, args.b))]
    queries = {q: i for i, q in enumerate(test["query"].unique())}
    qid_by_grade, scores = {}, [{}, {}]
    for code, label in enumerate(("irrelevant", "partial", "exact")):
        rows = test[test["grade"] == code]
        qid_by_grade[label] = rows["query"].map(queries).to_numpy()
        for m, cache in enumerate(caches):
            values = np.asarray(cache["scores_by_grade"][label], dtype=np.float64)
            if len(values) != len(rows):
                raise SystemExit(f"{label}: {len(values)} cached scores, {len(rows)} test pairs: not the same split")
            scores[m][label] = values

    rng = np.random.default_rng(args.seed)
    n = len(queries)
    full = {key: [pairwise_auc(s[h], s[lo]) for s in scores] for key, (h, lo) in PAIRS.items()}
    diffs: dict[str, list[float]] = {key: [] for key in PAIRS}
    for _ in range(args.replicates):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        for key, (h, lo) in PAIRS.items():
            wh, wl = counts[qid_by_grade[h]], counts[qid_by_grade[lo]]
            a, b = (weighted_auc(s[h], wh, s[lo], wl) for s in scores)
            diffs[key].append(b - a)
    result = {"a": args.a, "b": args.b, "run": str(args.run), "run_b": str(args.run_b or args.run),
              "test_queries": n, "replicates": args.replicates, "seed": args.seed, "auc": {}}
    for key, values in diffs.items():
        low, high = np.percentile(values, [2.5, 97.5])
        result["auc"][key] = {"a": full[key][0], "b": full[key][1], "b_minus_a": full[key][1] - full[key][0],
                              "ci95": [float(low), float(high)], "share_of_replicates_b_above_a": float(np.mean(np.array(values) > 0))}
        print(f"{key}: {args.a} {full[key][0]:.4f}  {args.b} {full[key][1]:.4f}  diff {full[key][1] - full[key][0]:+.4f}"
              f"  95% CI [{low:+.4f}, {high:+.4f}]")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
