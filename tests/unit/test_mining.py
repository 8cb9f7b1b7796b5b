from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.config import MiningConfig
from trainer.data import Catalog, Judgments
from trainer.mining import contradicts, mine


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_contradictions():
    assert contradicts(0.9, 0, partial=0.3, exact=0.6)
    assert contradicts(0.1, 2, partial=0.3, exact=0.6)
    assert not contradicts(0.45, 2, partial=0.3, exact=0.6)
    assert not contradicts(0.5, 1, partial=0.3, exact=0.6)


def test_mine_unjudged_neighbours_and_contradictions():
    # 2-d space: products at known angles; the query points along x
    vectors = unit([[1, 0], [1, 0.1], [1, 0.3], [0, 1], [1, 1]])
    catalog = Catalog(["a", "b", "c", "d", "e"], ["A", "B", "C", "D", "E"])
    table = {"q": unit([1, 0]), **{t: v for t, v in zip(catalog.texts, vectors, strict=True)}}

    def encode(texts):
        return np.stack([table[t] for t in texts])

    judgments = Judgments(pd.DataFrame([("q", "a", 0), ("q", "d", 2)], columns=["query", "product_id", "grade"]))
    calls = []

    def labeler(queries, texts):
        calls.append(list(texts))
        return np.array([2] * len(texts)), np.tile([0.1, 0.2, 0.7], (len(texts), 1))

    result = mine(encode, judgments, catalog, MiningConfig(k=5, max_unjudged=2, index="flat"),
                  boundaries={"partial": 0.3, "exact": 0.6}, labeler=labeler)
    got = result.pairs
    # the two nearest unjudged products (b, c) went to the labeler, in rank order
    assert calls == [["B", "C"]]
    assert list(got[got["source"] == "labeler"]["product_id"]) == ["b", "c"]
    # 'a' is judged irrelevant but scores 1.0; 'd' is judged exact but scores 0.0
    contradictions = got[got["source"] == "contradiction"].set_index("product_id")
    assert set(contradictions.index) == {"a", "d"} and contradictions.loc["a", "grade"] == 0
    assert got["mined"].all()
    assert result.stats["labelled"] == 2 and result.stats["contradictions"] == 2


def test_low_confidence_labels_are_dropped():
    catalog = Catalog(["a", "b"], ["A", "B"])
    table = {"q": unit([1, 0]), "A": unit([1, 0]), "B": unit([1, 1])}
    judgments = Judgments(pd.DataFrame([("q", "a", 2)], columns=["query", "product_id", "grade"]))
    result = mine(lambda ts: np.stack([table[t] for t in ts]), judgments, catalog,
                  MiningConfig(k=2, max_unjudged=1, min_confidence=0.8, index="flat"),
                  labeler=lambda q, t: (np.array([1]), np.array([[0.3, 0.4, 0.3]])))
    assert result.stats["dropped_low_confidence"] == 1 and result.pairs.empty


def _mine_on_cluster(config: MiningConfig):
    catalog = Catalog(["a", "b"], ["A", "B"])
    table = {"q": unit([1, 0]), "A": unit([1, 0]), "B": unit([1, 1])}
    judgments = Judgments(pd.DataFrame([("q", "a", 2)], columns=["query", "product_id", "grade"]))
    return mine(lambda ts: np.stack([table[t] for t in ts]), judgments, catalog, config)


def test_opensearch_mining_connects_with_the_configured_user_and_ca(tmp_path, monkeypatch):
    """The opensearch backend used a default ClusterConfig(): no user, no CA bundle, so a secured
    cluster could not be mined. Both reach the connection now (checked before any request is sent)."""
    from mr_opensearch.core.errors import MrosError
    from trainer.mining import mining_cluster

    monkeypatch.delenv("MROS_OPENSEARCH_PASSWORD", raising=False)
    url = "https://127.0.0.1:1"  # nothing listens: any request would fail with "cannot reach"
    with pytest.raises(MrosError, match="user 'miner' given but no password"):
        _mine_on_cluster(MiningConfig(backend="opensearch", opensearch_url=url, opensearch_user="miner"))
    missing = tmp_path / "private-ca.pem"
    with pytest.raises(MrosError, match=r"CA bundle .*private-ca\.pem not found"):
        _mine_on_cluster(MiningConfig(backend="opensearch", opensearch_url=url, opensearch_ca_certs=missing))
    cluster = mining_cluster(MiningConfig(backend="opensearch", opensearch_url=url, opensearch_user="miner",
                                          opensearch_ca_certs=missing, opensearch_verify_certs=False))
    assert (cluster.url, cluster.user, cluster.ca_certs, cluster.verify_certs) == (url, "miner", missing, False)
    assert cluster.password is None  # from $MROS_OPENSEARCH_PASSWORD at connect time, never from the config
