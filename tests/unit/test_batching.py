from __future__ import annotations

import pandas as pd
from datasets import Dataset

from trainer.batching import QueryGroupedBatchSampler, query_groups
from trainer.data import Catalog, Judgments
from trainer.stage1 import build_graded_dataset


def test_query_groups():
    assert query_groups([5, 5, 1, 1, 1, 9]) == [[0, 1], [2, 3, 4], [5]]


def test_batches_hold_whole_queries_and_cover_every_row_once():
    labels = [[q, g] for q in range(10) for g in (2, 1, 0)]
    ds = Dataset.from_dict({"query": ["x"] * len(labels), "product": ["y"] * len(labels), "label": labels})
    sampler = QueryGroupedBatchSampler(ds, batch_size=3, drop_last=False, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 4
    rows = [r for b in batches for r in b]
    assert sorted(rows) == list(range(30))
    for batch in batches:
        qids = {labels[r][0] for r in batch}
        assert len(batch) == 3 * len(qids)  # every query with all its products
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled per epoch, deterministic per seed + epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches


def test_graded_dataset_caps_products_but_keeps_each_grade():
    catalog = Catalog([str(i) for i in range(20)], [f"p{i}" for i in range(20)])
    rows = [("q", str(i), 2 if i == 0 else (1 if i == 1 else 0)) for i in range(20)]
    ds = build_graded_dataset(Judgments(pd.DataFrame(rows, columns=["query", "product_id", "grade"])), catalog, 5, 0)
    grades = sorted(label[1] for label in ds["label"])
    assert len(ds) == 5 and grades.count(2) == 1 and grades.count(1) == 1


def test_products_split_into_groups_dealt_by_grade():
    catalog = Catalog([str(i) for i in range(20)], [f"p{i}" for i in range(20)])
    grades_of = {0: 2, 1: 2, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0}
    rows = [("q", str(i), g) for i, g in grades_of.items()] + [("r", "10", 2), ("r", "11", 0)]
    ds = build_graded_dataset(Judgments(pd.DataFrame(rows, columns=["query", "product_id", "grade"])), catalog, 8, 0,
                              products_per_group=3)
    labels = ds["label"]
    assert len(ds) == 9 and all(len(label) == 3 for label in labels)
    groups: dict[int, list[list[int]]] = {}
    for label in labels:
        groups.setdefault(label[2], []).append(label)
    # q: 7 products -> 3 groups of at most 3, each holding an exact or partial product; r: one group
    q_groups = [g for g in groups.values() if g[0][0] == 0]
    assert len(q_groups) == 3 and all(len(g) <= 3 for g in q_groups)
    assert all(any(label[1] > 0 for label in g) for g in q_groups)
    assert sum(len(g) for g in q_groups) == 7
    # the sampler batches groups, not queries: 4 groups, 2 per batch
    sampler = QueryGroupedBatchSampler(ds, batch_size=2, drop_last=False, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2
    assert sorted(r for b in batches for r in b) == list(range(9))
