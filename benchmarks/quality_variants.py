"""Screen encoder variants for issue #21 on one split (validation by default), over the whole catalog.

Every model is scored as `mros train` scores its models (:class:`GradedRetrievalEvaluator`: full-catalog
nDCG@10, recall, the three grade-separation AUCs), plus the 3-class accuracy of boundaries fitted on
the same split's pairs (in-sample: a screening figure; the shipped boundaries are measured on the
test split by `mros train`). Models are given three ways:

* ``--model NAME=PATH``: a trained sentence-transformers model (e.g. RUN/stage1-model, RUN/model);
* ``--soup NAME=PATH_A+PATH_B@ALPHA``: the weight-space average ALPHA * A + (1 - ALPHA) * B of two
  models fine-tuned from the same base (model soups / WiSE-FT); PATH may be ``base`` (the config's
  base encoder);
* ``--mnrl DIR``: the standard recipe (MultipleNegativesRankingLoss on exact pairs) trained by the same
  code on the same train split into DIR/model (reused when present), scored as ``mnrl``.

Rows are merged into OUT/variants.json by name (a name already there is skipped unless --force), and
OUT/variants.md holds the table. Catalog vectors are cached under OUT/cache by model content, so a
model is encoded once per catalog.

    python benchmarks/quality_variants.py --config RUN/config.yaml --out runs/quality \\
        --mnrl runs/quality/mnrl --model stage2=RUN/model --soup "soup-base-0.7=RUN/model+base@0.7"
"""

from __future__ import annotations

import argparse
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


def evaluate(model, name: str, judgments, catalog, cache_dir: Path, batch_size: int) -> dict:
    from trainer.boundaries import learn_boundaries
    from trainer.evaluation import GradedRetrievalEvaluator
    from trainer.evaluation.scorers import dense_scorer

    start = time.perf_counter()
    result = GradedRetrievalEvaluator(judgments, catalog)(dense_scorer(model, catalog, name, batch_size, False, cache_dir))
    scores = np.concatenate([result.scores_by_grade[g] for g in ("irrelevant", "partial", "exact")])
    grades = np.concatenate([np.full(len(result.scores_by_grade[g]), k) for k, g in
                             enumerate(("irrelevant", "partial", "exact"))])
    fitted = learn_boundaries(scores, grades)
    return {**{k: result.metrics[k] for k in COLUMNS if k in result.metrics},
            "boundary_accuracy": fitted["accuracy"], "boundaries": [fitted["partial"], fitted["exact"]],
            "seconds": round(time.perf_counter() - start, 1)}


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
    parser.add_argument("--force", action="store_true", help="score names already in OUT/variants.json again")
    args = parser.parse_args()

    from trainer.config import load_config
    from trainer.encoder import load_encoder
    from trainer.run_data import load_data

    config = load_config(args.config)
    data = load_data(config)
    judgments = data.splits[args.split]
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "variants.json"
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
        rows[name] = {"split": args.split, **evaluate(make(), name, judgments, data.catalog, args.out / "cache",
                                                      config.eval.batch_size)}
        print(f"{name}: " + "  ".join(f"{c} {rows[name][c]:.4f}" for c in COLUMNS), flush=True)
        results_path.write_text(json.dumps(rows, indent=2))
        (args.out / "variants.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
