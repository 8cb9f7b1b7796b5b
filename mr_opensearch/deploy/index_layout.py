"""How many shards and replicas a new index gets, from the catalog and the cluster it goes to.

* **Shards:** one per :data:`SHARD_TARGET_BYTES` of estimated index size (OpenSearch's guidance for search
  workloads is 10-50 GB a shard), so one for any ordinary catalog: about 4 KB a document for a 384-d model
  (the float32 vector twice, in the vector file and in ``_source``, plus the text, the ids and the HNSW
  links), a million products in one shard of about 4 GB. One shard also keeps BM25's statistics
  index-wide and makes the engine's hybrid fusion equal mros's client-side fusion
  (:mod:`mr_opensearch.search.fusion`, its caveat).
* **Replicas:** none on a single data node (a replica never shares its primary's node, so it could only
  stay unassigned and turn the cluster yellow); one on several, so the loss of any one node loses no
  document and no search (its copies are promoted) while a deploy writes each document twice, not more.
  More replicas add search throughput and survive more lost nodes: ``--replicas`` up to data nodes - 1.

``--shards`` / ``--replicas`` override either; a count the cluster cannot place (replicas >= data nodes)
is deployed as asked with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SHARD_TARGET_BYTES = 25 * 1024**3
"""Estimated index bytes a shard takes before the catalog gets another one."""
TEXT_BYTES_PER_DOCUMENT = 1024
"""Titles, ids, postings and doc values of one product, generously."""


@dataclass(frozen=True)
class IndexLayout:
    shards: int
    replicas: int
    reason: str
    warning: str | None = None


def estimated_bytes(documents: int, dimension: int) -> int:
    """Index size of ``documents`` products with ``dimension``-d vectors: the vector in the vector file and in
    ``_source`` (4 bytes a value each), the HNSW links and the text (:data:`TEXT_BYTES_PER_DOCUMENT`)."""
    return documents * (2 * 4 * dimension + 2 * 16 * 4 + TEXT_BYTES_PER_DOCUMENT)


def index_layout(documents: int, dimension: int, data_nodes: int, *, shards: int | None = None,
                 replicas: int | None = None) -> IndexLayout:
    """Shards and replicas of a new index of ``documents`` products on a cluster of ``data_nodes`` data nodes,
    ``shards`` / ``replicas`` when given (see the module docstring)."""
    size = estimated_bytes(documents, dimension)
    why = []
    if shards is None:
        shards = max(1, math.ceil(size / SHARD_TARGET_BYTES))
        why.append(f"{shards} shard{'s' if shards > 1 else ''} for about {size / 1024**3:.1f} GB "
                   f"(one per {SHARD_TARGET_BYTES // 1024**3} GB)")
    else:
        why.append(f"{shards} shard{'s' if shards > 1 else ''} as asked")
    if replicas is None:
        replicas = 0 if data_nodes <= 1 else 1
        why.append(f"{replicas} replica{'' if replicas == 1 else 's'} on {data_nodes} data "
                   f"node{'' if data_nodes == 1 else 's'}")
    else:
        why.append(f"{replicas} replica{'' if replicas == 1 else 's'} as asked")
    warning = None
    if replicas >= max(1, data_nodes):
        warning = (f"{replicas} replica(s) on a cluster of {data_nodes} data node(s): a replica is never put on its "
                   "primary's node, so they stay unassigned and the cluster turns yellow (search works; pass "
                   f"--replicas {max(0, data_nodes - 1)} or add nodes)")
    return IndexLayout(shards=shards, replicas=replicas, reason=", ".join(why), warning=warning)
