"""Read every document of an index, page by page, through a point in time (PIT) and ``search_after``.

Why not a scroll (``helpers.scan``, which ``_reindex`` also reads with): on OpenSearch 3.5.0 with k-NN
3.5.0, a scroll over an index with a ``knn_vector`` field and derived source (the default since 3.0)
leaves the shard unable to fetch ``_source`` with its vectors afterwards: every search, ``GET`` or
``_reindex`` that returns the vector answers ``503 all shards failed`` (``already_closed_exception:
MemorySegmentIndexInput ... .vec``) until the node restarts; searches whose ``_source`` leaves the vector
out still work. Even a scroll with ``_source: false`` does it. Reproduced on the local node (a 150-document
index, one scroll, one search) and reported upstream as k-NN #3191 / #3458 (use-after-close of the
``.vec`` input). A PIT search uses the regular fetch path and leaves the index intact, so mros reads
whole indices only this way (``tests/integration/test_incremental_deploy.py`` checks the live index still
returns its vectors after an incremental deploy read it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

PAGE = 1000
"""Documents per page: big enough that a page costs one round trip among many, small enough that a page
with 384-d vectors stays a few MB."""


def read_documents(client: Any, index: str, *, source: bool | list[str] = True, sort_field: str = "product_id",
                   query: dict[str, Any] | None = None, page: int = PAGE, keep_alive: str = "5m") -> Iterator[dict]:
    """Every hit of ``query`` (default: all documents) in ``index``, as the search API returns it
    (``_id``, ``_source``).

    ``source``: what ``_source`` holds (``False``: only the ids; a list: those fields);
    ``sort_field``: a keyword field with one distinct value per document (mros indices: ``product_id``,
    which equals ``_id``), the order that ``search_after`` pages through; ``page``: hits per request;
    ``keep_alive``: how long the PIT lives between two pages. The PIT is deleted at the end, also when
    the caller stops early."""
    pit = client.create_pit(index=index, params={"keep_alive": keep_alive})["pit_id"]
    try:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": page, "_source": source, "query": query or {"match_all": {}},
                                    "pit": {"id": pit, "keep_alive": keep_alive},
                                    "sort": [{sort_field: "asc"}], "track_total_hits": False}
            if after is not None:
                body["search_after"] = after
            hits = client.search(body=body)["hits"]["hits"]
            yield from hits
            if len(hits) < page:
                return
            after = hits[-1]["sort"]
    finally:
        from opensearchpy.exceptions import OpenSearchException

        with contextlib.suppress(OpenSearchException):  # best effort: the PIT expires after keep_alive anyway
            client.delete_pit(body={"pit_id": [pit]})


def ids_in_index(client: Any, index: str) -> set[str]:
    """Every ``_id`` in ``index`` (refresh first to see the latest writes)."""
    return {hit["_id"] for hit in read_documents(client, index, source=False)}
