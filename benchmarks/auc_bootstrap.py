"""Are the differences in nDCG@10, grade-separation AUC and boundary accuracy between two models larger
than the evaluation set's noise?

Paired cluster bootstrap over the split's *queries* (:mod:`trainer.evaluation.bootstrap`): each
replicate draws the queries with replacement, weights every query (and all its judged pairs) by how
often it was drawn, and computes for both models on the same draw:

* ``auc``: the three pairwise grade-separation AUCs of the judged pairs' scores;
* ``ndcg``: ``ndcg@10``, the weighted mean of per-query full-corpus nDCG (queries without gain skipped);
* ``accuracy``: ``boundary_accuracy``, the 3-class accuracy of the judged pairs' grades thresholded
  at each model's learned boundaries (only with ``--boundaries-a`` / ``--boundaries-b``: a run's
  ``boundaries.json``, whose ``compared`` section holds the boundaries of each model by name).

Reports each model's full-set value, the difference B - A, its 95% percentile interval and the share
of replicates where B is above A. Scores and per-query nDCG come from the evaluation caches that
`mros train` / `mros eval --run` write (RUN/eval/SPLIT/NAME.json); a cache written before per-query
nDCG was stored must be re-evaluated (the script says how).

    python benchmarks/auc_bootstrap.py --run RUN --a stage1 --b stage2 [--run-b OTHER_RUN] [--split test] \\
        [--boundaries-a RUN/boundaries.json --boundaries-b RUN/boundaries.json] \\
        --replicates 2000 --out docs/benchmarks/auc-bootstrap.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mr_opensearch.core.errors import MrosError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="run directory holding model A's evaluation cache")
    parser.add_argument("--run-b", type=Path, help="run directory for model B (default: --run)")
    parser.add_argument("--a", default="stage1", help="model A's name (its cache RUN/eval/SPLIT/A.json)")
    parser.add_argument("--b", default="stage2", help="model B's name")
    parser.add_argument("--split", default="test", help="the evaluated split (default: test)")
    parser.add_argument("--boundaries-a", type=Path, help="boundaries.json holding model A's boundaries "
                        "(default: no boundary accuracy)")
    parser.add_argument("--boundaries-b", type=Path, help="boundaries.json holding model B's boundaries")
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    from trainer.boundaries import model_boundaries
    from trainer.config import load_config
    from trainer.evaluation.bootstrap import (
        SplitPairs,
        accuracy_statistic,
        auc_statistics,
        ndcg_statistic,
        paired_query_bootstrap,
    )
    from trainer.evaluation.run_step import evaluated_judgments, evaluation_cache_path, read_evaluation_cache
    from trainer.run_data import load_data

    if args.replicates < 1:
        raise MrosError(f"--replicates must be at least 1, got {args.replicates}")
    if not (args.run / "config.yaml").exists():
        raise MrosError(f"{args.run} is not a run directory (no config.yaml)", "pass the --out directory of `mros train`")
    run_b = args.run_b or args.run
    models = {"a": (args.a, args.run, args.boundaries_a), "b": (args.b, run_b, args.boundaries_b)}
    caches, problems = {}, []
    for side, (name, run_dir, _) in models.items():
        try:
            caches[side] = read_evaluation_cache(run_dir, args.split, name, fields=("scores_by_grade", "ndcg_by_query"))
        except MrosError as exc:
            problems.append(exc)
    if problems:  # both models' problems at once (old caches typically lack the field for both)
        raise MrosError("\n".join(p.message for p in problems), "\n".join(p.hint for p in problems if p.hint))

    config = load_config(args.run / "config.yaml")
    data = load_data(config)
    if args.split not in data.splits:
        raise MrosError(f"unknown split {args.split!r}", f"use one of {', '.join(data.splits)}")
    pairs = SplitPairs.from_frame(evaluated_judgments(data.splits[args.split], config).frame)
    n = len(pairs.queries)

    scores, statistics = {}, {}
    for side, (name, run_dir, _) in models.items():
        source = str(evaluation_cache_path(run_dir, args.split, name))
        try:
            scores[side] = pairs.scores(caches[side]["scores_by_grade"], source)
            ndcg = pairs.ndcg(caches[side]["ndcg_by_query"], source)
        except ValueError as exc:
            raise MrosError(str(exc), f"both caches must be evaluations of the {args.split} split of {args.run}'s data") from None
        statistics.setdefault("ndcg@10", {})[side] = ndcg_statistic(ndcg)
        for key, stat in auc_statistics(pairs, scores[side]).items():
            statistics.setdefault(key, {})[side] = stat

    boundaries = {}
    for side, (name, _, path) in models.items():
        if path is None:
            print(f"boundary accuracy skipped: no --boundaries-{side} for model {name!r}")
        else:
            boundaries[side] = model_boundaries(path, name)
    if len(boundaries) == 2:
        statistics["boundary_accuracy"] = {
            side: accuracy_statistic(scores[side], pairs.grade, pairs.query, n, *boundaries[side]) for side in models}

    started = time.perf_counter()
    intervals = paired_query_bootstrap({key: (s["a"], s["b"]) for key, s in statistics.items()}, n,
                                       args.replicates, args.seed)
    seconds = time.perf_counter() - started
    result = {"a": args.a, "b": args.b, "run": str(args.run), "run_b": str(run_b), "split": args.split,
              "queries": n, "pairs": len(pairs.query), "replicates": args.replicates, "seed": args.seed,
              "bootstrap_seconds": round(seconds, 2), "auc": {}, "ndcg": {}, "accuracy": {}}
    if boundaries:
        result["boundaries"] = {models[side][0]: {"partial": p, "exact": e} for side, (p, e) in boundaries.items()}
    for key, interval in intervals.items():
        section = "ndcg" if key.startswith("ndcg") else "accuracy" if key == "boundary_accuracy" else "auc"
        result[section][key] = interval.as_dict()
        low, high = interval.ci95
        print(f"{key}: {args.a} {interval.a:.4f}  {args.b} {interval.b:.4f}  diff {interval.b_minus_a:+.4f}"
              f"  95% CI [{low:+.4f}, {high:+.4f}]  B above A in {interval.share_of_replicates_b_above_a:.1%}")
    print(f"{args.replicates} replicates over {n} {args.split} queries ({len(pairs.query)} judged pairs) "
          f"in {seconds:.1f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except MrosError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        raise SystemExit(exc.exit_code or 1) from None


if __name__ == "__main__":
    main()
