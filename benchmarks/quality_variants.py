"""Screen encoder variants for issue #21 on one split (validation by default), over the whole catalog.

Every model is scored as `mros train` scores its models (:class:`GradedRetrievalEvaluator`: full-catalog
nDCG@10, recall, the three grade-separation AUCs), plus the 3-class accuracy of boundaries fitted on
the validation pairs (as `mros train` fits them): on the validation split itself an in-sample
screening figure, on the test split the held-out one. Models are given three ways:

* ``--model NAME=PATH``: a trained sentence-transformers model (e.g. RUN/stage1-model, RUN/model);
* ``--soup NAME=PATH_A+PATH_B@ALPHA``: the weight-space average ALPHA * A + (1 - ALPHA) * B of two
  models fine-tuned from the same base (model soups / WiSE-FT); PATH may be ``base`` (the config's
  base encoder);
* ``--mnrl DIR``: the standard recipe (MultipleNegativesRankingLoss on exact pairs) trained by the same
  code on the same train split into DIR/model (reused when present), scored as ``mnrl``.

Rows are merged into OUT/variants.json (validation) or OUT/variants-SPLIT.json by name (a name already
there is skipped unless --force), OUT/variants.md holds the table. Each model's scores are kept as
OUT/eval/SPLIT/NAME.json and its boundaries in OUT/boundaries.json, in the formats of a run, so
`benchmarks/auc_bootstrap.py --run RUN --run-b OUT --boundaries-b OUT/boundaries.json` gives paired
intervals against a run's model. Catalog vectors are cached under OUT/cache by model content, so a
model is encoded once per catalog.

    python benchmarks/quality_variants.py --config RUN/config.yaml --out runs/quality \\
        --mnrl runs/quality/mnrl --model stage2=RUN/model --soup "soup-base-0.7=RUN/model+base@0.7"
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

COLUMNS = ["ndcg@10", "recall@100_partial+", "recall@100_exact", "auc_exact_vs_partial",
           "auc_partial_vs_irrelevant", "auc_exact_vs_irrelevant", "boundary_accuracy"]


def soup(path_a: str, path_b: str, alpha: float, base: str, max_seq_length: int):
    """Model A with every floating-point weight replaced by alpha * A + (1 - alpha) * B."""
    from trainer.encoder import load_encoder

    model = load_encoder(base if path_a == "base" else path_a, max_seq_length)
    other = load_encoder(base if path_b == "base" else path_b, max_seq_length).state_dict()
    state = model.state_dict()
    if state.keys() != other.keys():
        raise SystemExit(f"{path_a} and {path_b} have different parameters: not fine-tuned from the same base")
    mixed = {k: (alpha * v + (1 - alpha) * other[k]) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(mixed)
    return model


def score(make, name: str, data, split: str, out: Path, batch_size: int) -> dict:
    """The evaluator's result for ``name`` on ``split``, cached as OUT/eval/SPLIT/NAME.json in the format
    `mros train` writes (so `benchmarks/auc_bootstrap.py --run-b OUT` reads it)."""
    from trainer.evaluation import GradedRetrievalEvaluator
    from trainer.evaluation.scorers import dense_scorer

    path = out / "eval" / split / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    start = time.perf_counter()
    scorer = dense_scorer(make(), data.catalog, name, batch_size, False, out / "cache")
    result = GradedRetrievalEvaluator(data.splits[split], data.catalog)(scorer)
    cached = {"key": "benchmarks/quality_variants.py", "metrics": result.metrics,
              "scores_by_grade": result.scores_by_grade, "ndcg_by_query": result.ndcg_by_query,
              "seconds": round(time.perf_counter() - start, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cached))
    return cached


def pairs_of(cached: dict, data, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A cache's judged-pair scores and their grades, in the split's pair order (checked against it)."""
    from trainer.evaluation.bootstrap import SplitPairs

    pairs = SplitPairs.from_frame(data.splits[split].frame)
    return pairs.scores(cached["scores_by_grade"]), pairs.grade


def evaluate(make, name: str, data, split: str, out: Path, batch_size: int) -> dict:
    """Boundaries fitted on the validation pairs (kept in OUT/boundaries.json under ``compared``, as a
    run's file holds them); the row's ``boundary_accuracy`` is their accuracy on ``split`` (in-sample
    when ``split`` is validation)."""
    from trainer.boundaries import grade_by_thresholds, learn_boundaries

    model = functools.cache(make)  # built at most once, and only when a split is not cached yet
    validation = score(model, name, data, "validation", out, batch_size)
    fitted = learn_boundaries(*pairs_of(validation, data, "validation"))
    cached = validation if split == "validation" else score(model, name, data, split, out, batch_size)
    scores, labels = pairs_of(cached, data, split)
    accuracy = float(np.mean(grade_by_thresholds(scores, fitted["partial"], fitted["exact"]) == labels))
    path = out / "boundaries.json"
    boundaries = json.loads(path.read_text()) if path.exists() else {"compared": {}}
    entry = {k: fitted[k] for k in ("partial", "exact", "criterion", "value", "accuracy")}
    boundaries["compared"][name] = {**boundaries["compared"].get(name, {}), **entry, f"{split}_accuracy": accuracy}
    path.write_text(json.dumps(boundaries, indent=2))
    return {**{k: cached["metrics"][k] for k in COLUMNS if k in cached["metrics"]},
            "boundary_accuracy": accuracy, "boundaries": [fitted["partial"], fitted["exact"]]}


def table(rows: dict[str, dict]) -> str:
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.4f}" if row.get(c) is not None else "–" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the run's config.yaml (data, split, base model)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="validation", choices=["train", "validation", "test"])
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--soup", action="append", default=[], metavar="NAME=PATH_A+PATH_B@ALPHA")
    parser.add_argument("--mnrl", type=Path, help="train (or reuse) the MNRL recipe in this directory and score it")
    parser.add_argument("--force", action="store_true", help="rebuild the rows of names already listed (scores come from OUT/eval; delete a file there to score it again)")
    args = parser.parse_args()

    from trainer.config import load_config
    from trainer.encoder import load_encoder
    from trainer.run_data import load_data

    config = load_config(args.config)
    data = load_data(config)
    judgments = data.splits[args.split]
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / ("variants.json" if args.split == "validation" else f"variants-{args.split}.json")
    rows: dict[str, dict] = json.loads(results_path.read_text()) if results_path.exists() else {}
    seq = config.model.max_seq_length
    jobs: list[tuple[str, object]] = []
    if args.mnrl:
        def mnrl():
            if not (args.mnrl / "model").exists():
                from trainer.baselines import train_mnrl

                model = load_encoder(config.model.base, seq)
                start = time.perf_counter()
                info = train_mnrl(model, data.splits["train"], data.catalog, config.mnrl, args.mnrl, True)
                info["train_seconds"] = round(time.perf_counter() - start, 1)
                model.save(str(args.mnrl / "model"))
                (args.mnrl / "training.json").write_text(json.dumps(info, indent=2))
            return load_encoder(str(args.mnrl / "model"), seq)
        jobs.append(("mnrl", mnrl))
    for spec in args.model:
        name, path = spec.split("=", 1)
        jobs.append((name, lambda path=path: load_encoder(config.model.base if path == "base" else path, seq)))
    for spec in args.soup:
        name, rest = spec.split("=", 1)
        paths, alpha = rest.rsplit("@", 1)
        path_a, path_b = paths.split("+", 1)
        jobs.append((name, lambda a=path_a, b=path_b, w=float(alpha): soup(a, b, w, config.model.base, seq)))
    for name, make in jobs:
        if name in rows and not args.force:
            print(f"{name}: already scored, skipped (--force to score again)")
            continue
        print(f"{name}: scoring {len(judgments.queries)} {args.split} queries over {len(data.catalog)} products", flush=True)
        rows[name] = {"split": args.split, **evaluate(make, name, data, args.split, args.out, config.eval.batch_size)}
        print(f"{name}: " + "  ".join(f"{c} {rows[name][c]:.4f}" for c in COLUMNS), flush=True)
        results_path.write_text(json.dumps(rows, indent=2))
        results_path.with_suffix(".md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
