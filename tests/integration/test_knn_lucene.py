"""k-NN on the real node: a ``lucene`` HNSW ``knn_vector`` index fed with the tiny model's vectors.

Vectors are computed here with onnxruntime (the same ONNX file ML Commons would run), so this part
holds on any node with the k-NN plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from opensearchpy import helpers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "mros-test-knn-lucene"


def _knn_score(cosine: np.ndarray) -> np.ndarray:
    """OpenSearch's score for ``cosinesimil``: (1 + cosine) / 2."""
    return (1.0 + cosine) / 2.0


@pytest.fixture(scope="module")
def knn_index(
    opensearch_client: Any, require_plugins: Callable[..., None], tiny_model: Any, corpus: dict[str, str]
) -> Iterator[dict[str, np.ndarray]]:
    require_plugins("opensearch-knn")
    ids = list(corpus)
    vectors = tiny_model.embed([corpus[i] for i in ids])
    dim = int(vectors.shape[1])
    opensearch_client.indices.delete(index=INDEX, ignore=[404])
    opensearch_client.indices.create(
        index=INDEX,
        body={
            "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
            "mappings": {
                "properties": {
                    "text": {"type": "text"},
                    "embedding": {
                        "type": "knn_vector",
                        "dimension": dim,
                        "method": {
                            "name": "hnsw",
                            "engine": "lucene",
                            "space_type": "cosinesimil",
                            "parameters": {"m": 16, "ef_construction": 128},
                        },
                    },
                }
            },
        },
    )
    actions = [
        {"_index": INDEX, "_id": doc_id, "text": corpus[doc_id], "embedding": vec.tolist()}
        for doc_id, vec in zip(ids, vectors, strict=True)
    ]
    ok, errors = helpers.bulk(opensearch_client, actions, refresh="wait_for")
    assert ok == len(ids) and not errors
    yield dict(zip(ids, vectors, strict=True))
    opensearch_client.indices.delete(index=INDEX, ignore=[404])


def test_mapping_uses_lucene_hnsw(opensearch_client: Any, knn_index: dict[str, np.ndarray]) -> None:
    mapping = opensearch_client.indices.get_mapping(index=INDEX)[INDEX]["mappings"]["properties"]["embedding"]
    assert mapping["type"] == "knn_vector"
    assert mapping["method"]["engine"] == "lucene"
    assert mapping["method"]["name"] == "hnsw"


def test_knn_query_ranks_like_local_cosine(
    opensearch_client: Any, knn_index: dict[str, np.ndarray], tiny_model: Any
) -> None:
    query = "cordless drill with batteries"
    q = tiny_model.embed([query])[0]
    ids = list(knn_index)
    cosines = np.array([float(np.dot(q, knn_index[i])) for i in ids])
    expected_top3 = [ids[j] for j in np.argsort(-cosines)[:3]]
    result = opensearch_client.search(
        index=INDEX, body={"size": 3, "query": {"knn": {"embedding": {"vector": q.tolist(), "k": 3}}}}
    )
    hits = result["hits"]["hits"]
    assert [h["_id"] for h in hits] == expected_top3
    top_score = float(_knn_score(cosines.max()))
    assert hits[0]["_score"] == pytest.approx(top_score, abs=1e-4)


def test_radial_knn_query_with_min_score(
    opensearch_client: Any, knn_index: dict[str, np.ndarray], tiny_model: Any, corpus: dict[str, str]
) -> None:
    q = tiny_model.embed([corpus["p2"]])[0]
    ids = list(knn_index)
    scores = _knn_score(np.array([float(np.dot(q, knn_index[i])) for i in ids]))
    ordered = np.sort(scores)[::-1]
    # A threshold in the widest gap among the top five keeps the expected set unambiguous.
    gaps = ordered[:4] - ordered[1:5]
    cut = int(np.argmax(gaps))
    min_score = float((ordered[cut] + ordered[cut + 1]) / 2)
    expected = {ids[j] for j, s in enumerate(scores) if s >= min_score}
    assert "p2" in expected
    result = opensearch_client.search(
        index=INDEX,
        body={"size": 20, "query": {"knn": {"embedding": {"vector": q.tolist(), "min_score": min_score}}}},
    )
    got = {h["_id"] for h in result["hits"]["hits"]}
    assert got == expected
    assert all(h["_score"] >= min_score - 1e-6 for h in result["hits"]["hits"])
