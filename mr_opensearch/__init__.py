"""mros: Mine and Refine for OpenSearch.

The serving side of mros (local node, index and pipeline deployment, search and evaluation) and the
``mros`` command-line interface; the training side lives in the sibling package ``trainer``.

The public Python API, for applications (imported on first use, so ``import mr_opensearch`` stays light):

* :func:`connect_cluster`: an ``opensearch-py`` client with mros's retries, TLS and credential handling;
* :class:`Searcher`: BM25 / dense / hybrid search of the index behind an alias, thread-safe, always with
  the model of the index that answers (:mod:`mr_opensearch.search.searcher`);
* :class:`Embedder`: a run's served encoder, to embed a catalog in any process or engine (Ray, Spark), with
  :func:`catalog_texts` (what a deploy embeds), :class:`VectorsWriter` / :class:`ModelStamp` (the vectors
  file ``mros deploy --vectors`` loads) and :func:`read_vectors`.
"""

from __future__ import annotations

from typing import Any

from mr_opensearch.core.version import __version__

__all__ = ["Embedder", "ModelStamp", "SearchInputError", "Searcher", "VectorsWriter", "__version__", "catalog_texts",
           "connect_cluster", "read_vectors"]

_PUBLIC = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'mr_opensearch' has no attribute {name!r}")
    from mr_opensearch import api

    return getattr(api, name)
