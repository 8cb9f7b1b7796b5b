"""What a refusal must leave as it was, read from the cluster for before/after comparisons.

Indices (settings without the volatile fields, mappings with their ``_meta`` manifest, aliases, the
primaries' document count and indexing total, so an unrefreshed write shows too), ingest and search pipelines, the cluster's persistent and transient settings, and the ML Commons
models when that plugin is installed.
"""

from __future__ import annotations

from typing import Any


def _get_or_empty(call: Any) -> Any:
    from opensearchpy.exceptions import NotFoundError

    try:
        return call()
    except NotFoundError:
        return {}


def ml_models(client: Any) -> list[dict[str, Any]] | None:
    """Every ML Commons model (id, name, state, content hash), or None without the plugin."""
    if "opensearch-ml" not in {row["component"] for row in client.cat.plugins(format="json")}:
        return None
    body = {"query": {"match_all": {}}, "size": 1000}
    found = _get_or_empty(lambda: client.transport.perform_request("POST", "/_plugins/_ml/models/_search", body=body))
    hits = found.get("hits", {}).get("hits", []) if found else []
    keep = ("name", "model_state", "model_content_hash_value", "model_group_id", "chunk_number")
    return sorted(({"id": h["_id"], **{k: h["_source"].get(k) for k in keep}} for h in hits),
                  key=lambda m: m["id"])


def snapshot(client: Any, pattern: str = "*") -> dict[str, Any]:
    """Indices (settings without volatile fields, mappings, aliases, counts), pipelines, cluster settings and
    ML Commons models, for before/after checks."""
    indices = client.indices.get(index=pattern, expand_wildcards="all", ignore_unavailable=True, allow_no_indices=True)
    stats = client.indices.stats(index=pattern, metric="docs,indexing", expand_wildcards="all").get("indices", {})
    state = {}
    for name, body in indices.items():
        settings = dict(body["settings"]["index"])
        for volatile in ("creation_date", "uuid", "version", "provided_name"):
            settings.pop(volatile, None)
        primaries = stats.get(name, {}).get("primaries", {})
        state[name] = {"settings": settings, "mappings": body["mappings"], "aliases": body["aliases"],
                       # documents written, refreshed or not (a red index has no primaries to count)
                       "docs": primaries.get("docs", {}).get("count"),
                       "indexed": primaries.get("indexing", {}).get("index_total")}
    cluster_settings = client.cluster.get_settings(flat_settings=True)
    return {"indices": state,
            "search_pipelines": _get_or_empty(lambda: client.transport.perform_request("GET", "/_search/pipeline")),
            "ingest_pipelines": _get_or_empty(client.ingest.get_pipeline),
            "cluster_settings": {k: cluster_settings.get(k, {}) for k in ("persistent", "transient")},
            "ml_models": ml_models(client)}
