"""Stage 2 hard-sample mining over the Stage 1 embedding space.

For every training query, the Stage 1 model retrieves its top-``k`` products from the whole catalog
with an ANN index (faiss ``IndexHNSWFlat`` on inner product of normalised vectors, or exact
``IndexFlatIP`` for small catalogs), or, for catalogs that outgrow one machine, with a ``lucene``
HNSW k-NN index on a live OpenSearch cluster (``backend: opensearch``, :func:`search_opensearch`).
Two kinds of pairs are kept:

* **unjudged neighbours** — the highest-ranked products the query has no judgment for (at most
  ``max_unjudged`` per query). They are the model's most confusable candidates and go to the
  labeler for a grade;
* **contradicting judgments** — judged pairs whose Stage 1 score disagrees with their grade under
  the Stage 1 boundaries (irrelevant but above the exact boundary, exact but below the partial
  boundary). They keep their human grade (they are already training data) and are listed with
  their scores in ``RUN/mined.parquet`` for inspection, and counted in the mining report.

Original judgments are never changed; mined rows carry ``mined=True`` and ``source`` (``labeler``
or ``contradiction``) and the labeler's probabilities where it graded them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.hashing import sha256_of_chunks
from trainer.config import MiningConfig
from trainer.data import Catalog, Judgments

Labeler = Callable[[list[str], list[str]], tuple[np.ndarray, np.ndarray]]
"""(queries, product texts) -> (grades [N] in 0/1/2, class probabilities [N, 3])."""


def build_index(vectors: np.ndarray, config: MiningConfig):
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    kind = config.index if config.index != "auto" else ("hnsw" if len(vectors) > 20000 else "flat")
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(vectors.shape[1], config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.hnsw_ef_search
    elif kind == "flat":
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        raise ValueError(f"unknown faiss index kind {kind!r} (use flat, hnsw or auto)")
    index.add(vectors)
    return index


def mining_cluster(config: MiningConfig):
    """The :class:`~mr_opensearch.cluster.connection.ClusterConfig` of backend opensearch: its URL, user, CA bundle
    and certificate check (the password comes from ``$MROS_OPENSEARCH_PASSWORD``, never from a file)."""
    from mr_opensearch.cluster.connection import ClusterConfig

    if not config.opensearch_url:
        raise MrosError("mining backend opensearch needs stage2.mining.opensearch_url", "set it, or use backend faiss")
    return ClusterConfig(url=config.opensearch_url, user=config.opensearch_user, ca_certs=config.opensearch_ca_certs,
                         verify_certs=config.opensearch_verify_certs)


def search_opensearch(vectors: np.ndarray, q_vectors: np.ndarray, catalog: Catalog,
                      config: MiningConfig) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by a ``lucene`` HNSW index on a live cluster: the catalog's vectors are indexed once
    (the index is named after a hash of the vectors, so a rerun reuses it), then each query is a
    ``knn`` search. Returns faiss-shaped ``(cosines [Q, k], catalog positions [Q, k], -1 = none)``."""
    from mr_opensearch.cluster.connection import connect, require_knn
    from mr_opensearch.cluster.vector_index import index_catalog, knn_search

    client = connect(mining_cluster(config))
    require_knn(client)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    position = {pid: i for i, pid in enumerate(catalog.ids)}
    by_text = {}
    for pid, vec in zip(catalog.ids, vectors, strict=True):
        by_text.setdefault(catalog.text(pid), vec)
    fingerprint = sha256_of_chunks([vectors.tobytes()])
    result = index_catalog(client, catalog.ids, catalog.texts, lambda texts: np.stack([by_text[t] for t in texts]),
                           model_sha=fingerprint, prefix="mros-mining", alias=None)
    k = min(config.k, len(catalog))
    scores = np.full((len(q_vectors), k), -np.inf, dtype=np.float32)
    idx = np.full((len(q_vectors), k), -1, dtype=np.int64)
    for qi, vec in enumerate(q_vectors):
        hits = knn_search(client, result.index, vec, k)["hits"]["hits"]
        for rank, hit in enumerate(hits[:k]):
            idx[qi, rank] = position[hit["_source"]["product_id"]]
            scores[qi, rank] = 2.0 * float(hit["_score"]) - 1.0  # cosinesimil score (1 + cos) / 2 back to cos
    return scores, idx


@dataclass
class MiningResult:
    pairs: pd.DataFrame  # query, product_id, grade, mined, source, score, p_irrelevant, p_partial, p_exact
    stats: dict


def contradicts(score: float, grade: int, partial: float, exact: float) -> bool:
    """A judged pair whose score lands in the band of a grade at least two steps away, or an exact
    pair below the partial boundary / irrelevant pair above the exact boundary."""
    predicted = 2 if score >= exact else (1 if score >= partial else 0)
    return abs(predicted - grade) >= 2 or (grade == 2 and predicted == 0) or (grade == 0 and predicted == 2)


def mine(encode: Callable[[list[str]], np.ndarray], judgments: Judgments, catalog: Catalog,
         config: MiningConfig, boundaries: dict | None = None, labeler: Labeler | None = None,
         product_vectors: np.ndarray | None = None) -> MiningResult:
    """Mine hard samples for the queries of ``judgments`` (see the module docstring)."""
    vectors = product_vectors if product_vectors is not None else encode(catalog.texts)
    by_query: dict[str, dict[str, int]] = {}
    for q, p, g in judgments.frame[["query", "product_id", "grade"]].itertuples(index=False):
        by_query.setdefault(q, {})[p] = int(g)
    queries = list(by_query)
    q_vectors = np.ascontiguousarray(encode(queries), dtype=np.float32)
    if config.backend == "opensearch":
        scores, idx = search_opensearch(vectors, q_vectors, catalog, config)
    else:
        scores, idx = build_index(vectors, config).search(q_vectors, min(config.k, len(catalog)))
    unjudged_rows, contradiction_rows = [], []
    for qi, query in enumerate(queries):
        judged = by_query[query]
        taken = 0
        for score, j in zip(scores[qi], idx[qi], strict=True):
            if j < 0:
                continue
            pid = catalog.ids[j]
            if pid not in judged and taken < config.max_unjudged:
                unjudged_rows.append((query, pid, float(score)))
                taken += 1
    if boundaries:
        pairs = judgments.frame
        q_index = {q: i for i, q in enumerate(queries)}
        for q, p, g in pairs[["query", "product_id", "grade"]].itertuples(index=False):
            score = float(q_vectors[q_index[q]] @ vectors[catalog.position[p]])
            if contradicts(score, int(g), float(boundaries["partial"]), float(boundaries["exact"])):
                contradiction_rows.append((q, p, int(g), score))
    columns = ["query", "product_id", "grade", "mined", "source", "score", "p_irrelevant", "p_partial", "p_exact"]
    rows = []
    labelled = 0
    dropped = 0
    if unjudged_rows and labeler is not None:
        grades, probs = labeler([r[0] for r in unjudged_rows], [catalog.text(r[1]) for r in unjudged_rows])
        for (q, p, s), g, pr in zip(unjudged_rows, grades, probs, strict=True):
            if float(np.max(pr)) < config.min_confidence:
                dropped += 1
                continue
            rows.append((q, p, int(g), True, "labeler", s, float(pr[0]), float(pr[1]), float(pr[2])))
            labelled += 1
    for q, p, g, s in contradiction_rows:
        rows.append((q, p, g, True, "contradiction", s, np.nan, np.nan, np.nan))
    frame = pd.DataFrame(rows, columns=columns)
    stats = {
        "queries": len(queries),
        "unjudged_candidates": len(unjudged_rows),
        "labelled": labelled,
        "dropped_low_confidence": dropped,
        "contradictions": len(contradiction_rows),
        "labelled_grades": {str(k): int(v) for k, v in frame[frame["source"] == "labeler"]["grade"].value_counts().items()},
    }
    return MiningResult(frame, stats)
