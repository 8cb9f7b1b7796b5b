"""Template filling (mappings/, pipelines/) and the quick-profile data subset."""

from __future__ import annotations

import pandas as pd
import pytest

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.templates import render
from trainer.data import Catalog, Judgments
from trainer.subset import restrict_catalog, sample_queries


def _values(**over):
    values = {"dimension": 384, "ef_search": 100, "shards": 1, "replicas": 0, "hnsw_m": 16, "ef_construction": 128,
              "meta": {"model_sha256": "ab", "complete": False}}
    return {**values, **over}


def test_vector_mapping_is_filled_with_typed_values():
    body = render("mappings", "product-vectors", **_values())
    vector = body["mappings"]["properties"]["embedding"]
    assert vector["dimension"] == 384 and isinstance(vector["dimension"], int)
    assert vector["method"]["engine"] == "lucene" and vector["method"]["space_type"] == "cosinesimil"
    assert body["mappings"]["_meta"] == {"model_sha256": "ab", "complete": False}
    assert body["settings"]["index"]["knn"] is True


def test_missing_and_unknown_placeholders_fail_loudly():
    values = _values()
    del values["dimension"]
    with pytest.raises(MrosError, match=r"missing \['dimension'\]"):
        render("mappings", "product-vectors", **values)
    with pytest.raises(MrosError, match=r"not used \['dimensions'\]"):
        render("mappings", "product-vectors", **_values(dimensions=3))


def _judgments(n_queries: int) -> Judgments:
    rows = [(f"q{i}", f"p{i}", 2) for i in range(n_queries)] + [(f"q{i}", f"p{i + 1}", 0) for i in range(n_queries)]
    return Judgments(pd.DataFrame(rows, columns=["query", "product_id", "grade"]))


def test_query_sample_is_seeded_stable_and_keeps_whole_queries():
    judgments = _judgments(50)
    a, b = sample_queries(judgments, 10, seed=1), sample_queries(judgments, 10, seed=1)
    assert a.queries == b.queries and len(a.queries) == 10
    assert len(a) == 20  # both judgments of every kept query
    assert sample_queries(judgments, 10, seed=2).queries != a.queries
    # adding queries never brings back an old query the smaller sample had dropped
    bigger = sample_queries(_judgments(60), 10, seed=1)
    old = {f"q{i}" for i in range(50)}
    assert set(bigger.queries) & old <= set(a.queries)


def test_catalog_restriction_keeps_every_judged_product():
    catalog = Catalog([f"p{i}" for i in range(200)], [f"title {i}" for i in range(200)])
    judgments = sample_queries(_judgments(100), 5, seed=3)
    small = restrict_catalog(catalog, judgments, 40, seed=3)
    assert len(small) == 40
    assert set(judgments.frame["product_id"]) <= set(small.ids)
    assert small.ids == [p for p in catalog.ids if p in set(small.ids)]  # catalog order kept
    assert all(small.text(p) == f"title {p[1:]}" for p in small.ids)
    assert restrict_catalog(catalog, judgments, 500) is catalog
