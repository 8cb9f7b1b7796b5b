"""What the training data can teach (issue #21): grades, splits, catalog coverage, conflicting labels.

Loads the data and the 80/10/10 query split exactly as `mros train` does (from a run's config) and
reports, per split: queries, pairs, grade shares, queries whose judged products are all of one grade
(no graded contrast inside the query for the losses to use), and

* catalog coverage: the share of catalog products that appear in any training pair (the rest are
  only ever seen by the encoder as retrieval candidates);
* duplicate titles: products whose normalised titles are identical, and (query, title) pairs judged
  more than once with *different* grades (label noise no model can fit);
* split hygiene: evaluation queries whose normalised text also occurs as a training query.

    python benchmarks/data_audit.py --config RUN/config.yaml --out docs/benchmarks/data-audit.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

GRADES = ("irrelevant", "partial", "exact")


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", str(text).lower())).strip()


def split_summary(frame) -> dict:
    by_query = frame.groupby("query")["grade"]
    return {
        "queries": int(frame["query"].nunique()),
        "pairs": len(frame),
        "grade_share": {g: round(float((frame["grade"] == k).mean()), 4) for k, g in enumerate(GRADES)},
        "queries_single_grade": round(float((by_query.nunique() == 1).mean()), 4),
        "queries_without_exact": round(float((by_query.max() < 2).mean()), 4),
        "queries_with_irrelevant": round(float((by_query.min() == 0).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from trainer.config import load_config
    from trainer.run_data import load_data

    data = load_data(load_config(args.config))
    catalog = data.catalog
    titles = {pid: normalise(catalog.text(pid)) for pid in catalog.ids}
    result: dict = {"catalog_products": len(catalog.ids), "splits": {}}
    for name, judgments in data.splits.items():
        result["splits"][name] = split_summary(judgments.frame)
    train = data.splits["train"].frame
    seen = set(train["product_id"])
    result["catalog_seen_in_training"] = round(len(seen) / len(catalog.ids), 4)
    title_counts: dict[str, int] = {}
    for title in titles.values():
        title_counts[title] = title_counts.get(title, 0) + 1
    result["duplicate_title_products"] = sum(c for c in title_counts.values() if c > 1)
    everything = data.judgments.frame.assign(title=lambda f: f["product_id"].map(titles))
    grouped = everything.groupby(["query", "title"])["grade"]
    repeated = grouped.size()
    result["query_title_pairs_judged_twice_or_more"] = int((repeated > 1).sum())
    result["query_title_pairs_with_conflicting_grades"] = int((grouped.nunique() > 1).sum())
    train_queries = {normalise(q) for q in train["query"].unique()}
    for name in ("validation", "test"):
        queries = data.splits[name].frame["query"].unique()
        shared = sum(normalise(q) in train_queries for q in queries)
        result["splits"][name]["queries_also_in_train_after_normalising"] = int(shared)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
