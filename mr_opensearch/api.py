"""The public Python API of mros for applications, re-exported by ``mr_opensearch`` (see its docstring).

Everything here is documented, typed and kept stable; the modules behind it are not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mr_opensearch.cluster.connection import ClusterConfig, connect
from mr_opensearch.search.embedder import Embedder
from mr_opensearch.search.queries import SearchInputError
from mr_opensearch.search.searcher import Searcher
from mr_opensearch.search.vectors_file import ModelStamp, VectorsWriter, read_vectors

__all__ = ["Embedder", "ModelStamp", "SearchInputError", "Searcher", "VectorsWriter", "catalog_texts",
           "connect_cluster", "read_vectors"]


def catalog_texts(path: Path | str, *, text_fields: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """The product ids of the catalog file at ``path`` and the texts ``mros deploy`` embeds for them, in file
    order: what an external embedding job (:class:`Embedder` in a Ray or Spark task) must embed so that
    ``mros deploy --vectors`` uses its vectors (a vector of any other text is embedded again on the spot).

    Args:
        path: a catalog CSV/JSONL, as ``mros deploy --catalog`` reads it.
        text_fields: the extra columns the deploy indexes (``--text-field``).
    """
    from mr_opensearch.core.catalog import read_catalog

    catalog = read_catalog(path, text_fields=text_fields)
    return list(catalog.ids), catalog.embedding_texts(("title",))


def connect_cluster(url: str, *, user: str | None = None, password: str | None = None, verify_certs: bool = True,
                    ca_certs: Path | str | None = None, timeout: float = 60.0, retry_budget: float = 120.0) -> Any:
    """An ``opensearch-py`` client for ``url`` through mros's retry policy (429, 503, resets and a restarting
    node are retried for ``retry_budget`` seconds), checked with one ping: an unreachable cluster, refused
    credentials or a TLS problem raise :class:`~mr_opensearch.core.errors.MrosError` saying what to do.

    Args:
        url: e.g. ``https://search.example.com:9200``.
        user: basic-auth user; ``password`` defaults to ``$MROS_OPENSEARCH_PASSWORD``.
        verify_certs: check the server's certificate (turn off only for self-signed test clusters).
        ca_certs: a CA bundle for a cluster with a private CA.
        timeout: seconds one request may take.
        retry_budget: seconds one request is retried for before mros gives up.
    """
    config = ClusterConfig(url=url, user=user, password=password, verify_certs=verify_certs,
                           ca_certs=Path(ca_certs) if ca_certs else None, timeout=timeout,
                           retry_budget_s=retry_budget)
    return connect(config)
