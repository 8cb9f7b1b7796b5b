"""neural-search on the real node with the tiny model deployed in ML Commons.

A ``lucene`` HNSW index fed through a ``text_embedding`` ingest pipeline; ``neural``, radial
``neural`` (``min_score``) and ``hybrid`` (match + neural, ``normalization-processor`` min_max with
``lower_bounds``) queries return the documents the same model predicts locally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from opensearchpy import helpers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INDEX = "mros-test-neural"
INGEST = "mros-test-embed"
SEARCH = "mros-test-hybrid"


@pytest.fixture(scope="module")
def neural_index(
    opensearch_client: Any,
    require_plugins: Callable[..., None],
    deployed_model: str,
    tiny_model: Any,
    corpus: dict[str, str],
) -> Iterator[str]:
    require_plugins("opensearch-knn", "opensearch-neural-search")
    client = opensearch_client
    dim = tiny_model.export.model_config["embedding_dimension"]
    client.ingest.put_pipeline(
        id=INGEST,
        body={
            "processors": [
                {"text_embedding": {"model_id": deployed_model, "field_map": {"text": "embedding"}}}
            ]
        },
    )
    client.indices.delete(index=INDEX, ignore=[404])
    client.indices.create(
        index=INDEX,
        body={
            "settings": {
                "index": {
                    "knn": True,
                    "number_of_shards": 1,
                    "number_of_replicas": 0,
                    "default_pipeline": INGEST,
                }
            },
            "mappings": {
                "properties": {
                    "text": {"type": "text"},
                    "embedding": {
                        "type": "knn_vector",
                        "dimension": dim,
                        "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                    },
                }
            },
        },
    )
    actions = [{"_index": INDEX, "_id": doc_id, "text": text} for doc_id, text in corpus.items()]
    ok, errors = helpers.bulk(client, actions, refresh="wait_for")
    assert ok == len(corpus) and not errors
    yield INDEX
    client.indices.delete(index=INDEX, ignore=[404])
    client.ingest.delete_pipeline(id=INGEST, ignore=[404])
    client.transport.perform_request("DELETE", f"/_search/pipeline/{SEARCH}", params={"ignore": 404})


def _local_scores(tiny_model: Any, corpus: dict[str, str], query: str) -> dict[str, float]:
    vectors = tiny_model.embed([query, *corpus.values()])
    cosines = vectors[1:] @ vectors[0]
    return {doc_id: float((1 + c) / 2) for doc_id, c in zip(corpus, cosines, strict=True)}


def test_ingest_pipeline_embeds_like_local_model(
    opensearch_client: Any, neural_index: str, tiny_model: Any, corpus: dict[str, str]
) -> None:
    doc = opensearch_client.get(index=neural_index, id="p3")["_source"]
    stored = np.array(doc["embedding"], dtype=np.float32)
    local = tiny_model.embed([corpus["p3"]])[0]
    assert float(stored @ local / np.linalg.norm(stored)) > 0.999


def test_neural_query(
    opensearch_client: Any, neural_index: str, deployed_model: str, tiny_model: Any, corpus: dict[str, str]
) -> None:
    query = corpus["p2"]
    scores = _local_scores(tiny_model, corpus, query)
    expected = sorted(scores, key=scores.__getitem__, reverse=True)[:3]
    body = {
        "size": 3,
        "query": {"neural": {"embedding": {"query_text": query, "model_id": deployed_model, "k": 3}}},
    }
    hits = opensearch_client.search(index=neural_index, body=body)["hits"]["hits"]
    assert [h["_id"] for h in hits] == expected
    assert hits[0]["_id"] == "p2"


def test_radial_neural_query(
    opensearch_client: Any, neural_index: str, deployed_model: str, tiny_model: Any, corpus: dict[str, str]
) -> None:
    query = "stainless steel sink for the kitchen"
    scores = _local_scores(tiny_model, corpus, query)
    ordered = sorted(scores.values(), reverse=True)
    gaps = [ordered[i] - ordered[i + 1] for i in range(4)]
    cut = int(np.argmax(gaps))
    min_score = (ordered[cut] + ordered[cut + 1]) / 2
    expected = {doc_id for doc_id, s in scores.items() if s >= min_score}
    body = {
        "size": 20,
        "query": {
            "neural": {"embedding": {"query_text": query, "model_id": deployed_model, "min_score": min_score}}
        },
    }
    hits = opensearch_client.search(index=neural_index, body=body)["hits"]["hits"]
    assert {h["_id"] for h in hits} == expected


def test_hybrid_query_with_min_max_lower_bounds(
    opensearch_client: Any, neural_index: str, deployed_model: str
) -> None:
    pipeline = {
        "description": "min_max with lower bounds, lexical-leaning mean",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {
                        "technique": "min_max",
                        "parameters": {
                            "lower_bounds": [
                                {"mode": "apply", "min_score": 0.0},
                                {"mode": "clip", "min_score": 0.5},
                            ]
                        },
                    },
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.7, 0.3]}},
                }
            }
        ],
    }
    opensearch_client.transport.perform_request("PUT", f"/_search/pipeline/{SEARCH}", body=pipeline)
    stored = opensearch_client.transport.perform_request("GET", f"/_search/pipeline/{SEARCH}")[SEARCH]
    normalization = stored["phase_results_processors"][0]["normalization-processor"]["normalization"]
    assert normalization["parameters"]["lower_bounds"][1] == {"mode": "clip", "min_score": 0.5}
    body = {
        "size": 5,
        "query": {
            "hybrid": {
                "queries": [
                    {"match": {"text": "kitchen sink"}},
                    {
                        "neural": {
                            "embedding": {"query_text": "kitchen sink", "model_id": deployed_model, "k": 5}
                        }
                    },
                ]
            }
        },
    }
    result = opensearch_client.search(index=neural_index, body=body, params={"search_pipeline": SEARCH})
    hits = result["hits"]["hits"]
    # Only p2 and p6 match lexically; with 0.7 of the weight on the match they must lead.
    assert {h["_id"] for h in hits[:2]} == {"p2", "p6"}
    assert all(0.0 <= h["_score"] <= 1.0 for h in hits)
