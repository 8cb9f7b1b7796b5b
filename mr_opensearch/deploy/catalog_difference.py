"""The difference between a catalog and an index that holds an earlier one, and the bulk actions that apply
it by id: what ``mros deploy --in-place`` writes to the live index (:mod:`mr_opensearch.deploy.in_place`) and
an incremental deploy to the clone of it (:mod:`mr_opensearch.deploy.cloned_index`).

The index is read without its vectors (a point-in-time read, :mod:`mr_opensearch.cluster.index_reader`) and
compared by product id and fields: new products and those whose ``embedding_text`` changed are embedded and
upserted; those whose other fields changed are upserted with their stored vector (read by ``_mget``, never a
partial ``_update``: k-NN #1694/#3536 wipe the vector); products the catalog no longer has are deleted; the
rest is not touched. Every write is by ``_id``, so applying a difference again after a kill converges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mr_opensearch.cluster.index_reader import read_documents
from mr_opensearch.search.manifest import KNN_VECTOR_FIELD as VECTOR_FIELD


@dataclass
class Difference:
    """The new catalog against an index."""

    embed: list[dict[str, Any]] = field(default_factory=list)
    """New products and products whose ``embedding_text`` changed: embedded and upserted."""
    fields_only: list[dict[str, Any]] = field(default_factory=list)
    """Products whose ``embedding_text`` is unchanged but another field changed: upserted with the live vector."""
    delete: list[str] = field(default_factory=list)
    """Live products the catalog no longer has."""
    unchanged: int = 0
    live: int = 0
    """Documents the live index held."""
    from_file: int = 0
    """Of ``embed``, those ``--vectors`` held the vector of (moved out of ``embed`` when written)."""

    @property
    def empty(self) -> bool:
        return not (self.embed or self.fields_only or self.delete)


def compare(client: Any, live: str, docs: list[dict[str, Any]]) -> Difference:
    """``docs`` (the new catalog's documents) against the live index's documents, read without vectors."""
    wanted = {d["product_id"]: d for d in docs}
    fields = sorted({name for doc in docs for name in doc})
    difference = Difference()
    for hit in read_documents(client, live, source=fields):
        difference.live += 1
        pid = hit["_id"]
        doc = wanted.pop(pid, None)
        old = hit.get("_source") or {}
        if doc is None:
            difference.delete.append(pid)
        elif old == doc:
            difference.unchanged += 1
        elif old.get("embedding_text") == doc["embedding_text"]:
            difference.fields_only.append(doc)
        else:
            difference.embed.append(doc)
    difference.embed.extend(wanted.values())
    return difference


def difference_actions(client: Any, index: str, difference: Difference, embedding: str,
                       embedded: Callable[[list[dict[str, Any]]], Iterator[dict[str, Any]]] | None = None
                       ) -> Iterator[dict[str, Any]]:
    """The bulk actions that make ``index`` hold the new catalog: deletes, upserts with the stored vector, then
    the upserts to embed: in engine mode without a vector (the index's default ingest pipeline embeds them), in
    client mode the actions ``embedded`` makes of them (mros embeds them)."""
    for pid in difference.delete:
        yield {"_op_type": "delete", "_index": index, "_id": pid}
    if embedding == "engine":
        for doc in [*difference.fields_only, *difference.embed]:
            yield {"_index": index, "_id": doc["product_id"], "_source": doc}
        return
    assert embedded is not None
    for start in range(0, len(difference.fields_only), 1000):
        part = difference.fields_only[start : start + 1000]
        vectors = live_vectors(client, index, [d["product_id"] for d in part])
        for doc in part:
            vector = vectors.get(doc["product_id"])
            if vector is None:  # gone since the comparison (cannot happen under the lock): embed it instead
                difference.embed.append(doc)
                continue
            yield {"_index": index, "_id": doc["product_id"], "_source": {**doc, VECTOR_FIELD: vector}}
    yield from embedded(difference.embed)


def live_vectors(client: Any, index: str, ids: list[str]) -> dict[str, list[float]]:
    """The stored vectors of ``ids`` (``_mget`` of the vector field only)."""
    answer = client.mget(index=index, body={"ids": ids}, params={"_source_includes": VECTOR_FIELD})
    return {doc["_id"]: doc["_source"][VECTOR_FIELD] for doc in answer.get("docs", [])
            if doc.get("found") and VECTOR_FIELD in (doc.get("_source") or {})}
