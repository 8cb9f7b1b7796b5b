"""How often two human rater panels agree on pairs a title-only labeler cannot tell apart.

Some queries in the Home Depot data were judged against two or more *different* products with the
same title (colour or size variants). A labeler that reads ``(query, title)`` sees those pairs as one
pair, but each was graded by its own panel of three raters. Their agreement measures how well one
panel's grade predicts another's for the same text, a reference for the labeler's accuracy and
within-1 accuracy:

- ``agreement``: share of twin pairs (two products, same query, same lower-cased title) with the
  same grade; ``within1``: share whose grades differ by at most one.
- If ``pi`` is the grade distribution of a text pair, two panels agree with probability
  ``sum_g pi_g^2`` and the best possible title-only labeler is right with probability ``max_g pi_g``;
  since ``max_g pi_g <= sqrt(sum_g pi_g^2)``, its accuracy on such pairs is at most
  ``sqrt(agreement)`` (Jensen), the ``accuracy_ceiling`` reported.

    python benchmarks/label_agreement.py --data ../shared/data/homedepot --out docs/benchmarks/label-agreement.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from trainer.grades import GradeMapping


def twin_agreement(judgments, products, mapping: GradeMapping | None = None) -> dict:
    """Agreement of twin judgments; grades cut from ``relevance`` by ``mapping`` (the data's default)."""
    twin_groups = _twin_groups(judgments, products, mapping)
    pairs = agree = far = 0
    for group in twin_groups:
        for a, b in itertools.combinations([grade for _, grade in group], 2):
            pairs += 1
            agree += a == b
            far += abs(a - b) == 2
    if pairs == 0:
        return {"twin_groups": 0, "twin_pairs": 0}
    return {"twin_groups": len(twin_groups), "judgments_in_groups": sum(map(len, twin_groups)), "twin_pairs": pairs,
            "agreement": agree / pairs, "within1": 1 - far / pairs, "accuracy_ceiling": float(np.sqrt(agree / pairs))}


AUC_PAIRS = {"auc_exact_vs_partial": (2, 1), "auc_partial_vs_irrelevant": (1, 0), "auc_exact_vs_irrelevant": (2, 0)}


def _twin_groups(judgments, products, mapping: GradeMapping | None = None) -> list[list[tuple[float, int]]]:
    """(relevance, grade) of each judgment, per twin group (one query, one lower-cased title, 2+ products)."""
    mapping = mapping or GradeMapping()
    frame = judgments.merge(products, on="product_uid")
    frame["grade"] = [int(mapping.grade_of_score(r)) for r in frame["relevance"]]
    frame["title_key"] = frame["product_title"].str.lower().str.strip()
    return [list(zip(group["relevance"].astype(float), group["grade"], strict=True))
            for _, group in frame.groupby(["query", "title_key"]) if group["product_uid"].nunique() >= 2]


def _panel_aucs(groups: list[list[tuple[float, int]]]) -> dict[str, float | None]:
    from mr_opensearch.core.metrics import pairwise_auc

    scores: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for rows in groups:
        for a, b in itertools.permutations(range(len(rows)), 2):
            scores[rows[a][1]].append(rows[b][0])
    return {name: pairwise_auc(scores[hi], scores[lo]) for name, (hi, lo) in AUC_PAIRS.items()}


def panel_auc(judgments, products, replicates: int = 1000, seed: int = 0,
              mapping: GradeMapping | None = None) -> dict:
    """Grade-separation AUCs of a second panel's relevance on twin pairs, with group-bootstrap intervals."""
    groups = _twin_groups(judgments, products, mapping)
    point = _panel_aucs(groups)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in AUC_PAIRS}
    for _ in range(replicates):
        sample = [groups[i] for i in rng.integers(0, len(groups), len(groups))]
        for name, value in _panel_aucs(sample).items():
            if value is not None:
                draws[name].append(value)
    interval = {name: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None
                for name, v in draws.items()}
    return {"panel_auc": point, "panel_auc_interval": interval, "panel_auc_replicates": replicates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/homedepot"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates of the panel AUCs")
    args = parser.parse_args()

    import pandas as pd

    judgments = pd.read_csv(args.data / "judgments.csv", dtype={"product_uid": str})
    products = pd.read_csv(args.data / "products.csv", dtype={"product_uid": str})
    result = {**twin_agreement(judgments, products), **panel_auc(judgments, products, args.replicates)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
