"""The fields of each serving command's ``--json`` output, documented once: ``docs/cli.md`` shows them under
each command (:mod:`mr_opensearch.cli.reference`), and the integration tests check them against the real
output of each command on the real node (``tests/json_fields.py``), so the two cannot drift."""

from __future__ import annotations

JSON_FIELDS: dict[str, dict[str, str]] = {
    "deploy": {
        "index": "the index the alias points at after the deploy (or would, with --dry-run)",
        "alias": "the alias",
        "embedding": "engine or client",
        "embedding_reason": "why that embedding mode",
        "action": "created, resumed, nothing to do, alias moved to an existing complete index, hybrid settings "
                  "updated (joined with `; `), updated in place (--in-place); with --dry-run `would be created` / "
                  "`would do: ...`",
        "dry_run": "true for --dry-run: nothing was written",
        "documents": "products in the catalog",
        "written": "documents acknowledged in this deploy",
        "already_present": "documents a resumed index held already",
        "seconds": "wall time of the deploy",
        "encode_seconds": "client mode: encoder time (all workers together)",
        "docs_per_second": "written / seconds",
        "model_id": "engine mode: the ML Commons model id",
        "previous_index": "the index the alias pointed at before",
        "pruned": "indices deleted by --keep",
        "plan": "the requests sent (or, with --dry-run, that would be): {method, path, body?, summary?}",
        "manifest": "the index's manifest (its mapping `_meta`)",
        "warnings": "warnings of the preflight (replicas a cluster cannot assign, yellow health, no boundaries, ...)",
        "shards": "shards of the index this deploy created (null when it found the index)",
        "replicas": "replicas of the index this deploy created (null when it found the index)",
        "gate": "--gate: {judgments, mode, queries, coverage, max_drop, new, live, ndcg_drop, passed, at}; null "
                "without --gate",
        "embedded": "documents embedded in this deploy (by mros in client mode, by the ingest pipeline in engine "
                    "mode)",
        "from_vectors_file": "documents written with their vector from --vectors (not embedded)",
        "copied": "documents written with the live index's vector of their unchanged embedding_text (incremental)",
        "removed": "products of the live index the new catalog no longer has (incremental)",
        "unchanged": "--in-place: products whose live document already equals the catalog's (not written)",
        "fields_updated": "--in-place: products whose embedding_text is unchanged but another field changed "
                          "(upserted with the live vector)",
        "in_place": "true: the live index was updated in place (--in-place), no new index",
        "incremental_from": "the live index an incremental deploy reused vectors from; null: a full deploy",
        "phase_seconds": "wall seconds per phase: copy (incremental), embed and index, refresh and complete; "
                         "--in-place: compare, embed and write, refresh and record",
        "phase_counters": "per phase, {cpu_seconds}: the CPU seconds mros spent in it",
    },
    "embed": {
        "out": "the vectors file written", "variant": "the encoder variant that embedded (a client-mode deploy's)",
        "products": "vectors written (one per catalog product)",
        "dimension": "vector dimension", "model_sha256": "the model package's SHA-256 (recorded in the file)",
        "onnx_sha256": "the ONNX file's SHA-256 (recorded in the file)", "seconds": "wall time",
        "titles_per_second": "products / seconds",
    },
    "search": {
        "alias": "the alias searched", "index": "the index that answered", "mode": "bm25, dense or hybrid",
        "embedding": "engine or client", "query": "the query, stripped", "k": "hits asked for",
        "hits": "[{rank, product_id, title, score, grade (null: no badge), bm25_score, dense_score, bm25_normalized, "
                "dense_normalized}]",
        "took_ms": "the server's took", "wall_ms": "client time of the search request(s)",
        "embed_ms": "client mode: query embedding time", "radial_min_score": "--min-grade: the engine score cut",
        "settings": "hybrid: the settings fused with", "extra": "{min_grade?}",
        "requests": "only with --show-requests: the requests sent (a dense query carries its vector)",
    },
    "status": {
        "alias": "the alias", "cluster": "cluster name", "cluster_health": "green, yellow or red",
        "live": "indices the alias points at",
        "indices": "[{index, live, complete, health, documents, expected_documents, embedding, model_sha256, "
                   "onnx_sha256, model_id, run, previous_index, created_at, completed_at, updating, updates, "
                   "manifest}]; updating: an in-place update under way {catalog_sha256, catalog, started_at} or "
                   "null; updates: the in-place updates applied, oldest first [{at, catalog_sha256, catalog, "
                   "embedded, fields_updated, deleted, seconds}]",
        "foreign_live_indices": "indices the alias points at that mros did not make",
        "lock": "the alias lock when held: {holder, command, ...}",
        "incomplete": "incomplete indices no alias points at (`mros prune` removes them)",
    },
    "rollback": {
        "alias": "the alias", "from": "indices it pointed at", "to": "the index it points at now",
        "dry_run": "true: nothing was sent", "plan": "the alias change: [{method, path, body}]",
    },
    "prune": {
        "alias": "the alias", "deleted": "incomplete indices deleted (or, with --dry-run, to delete)",
        "dry_run": "true: nothing was sent", "plan": "the deletes: [{method, path}]",
    },
}
"""command -> top-level field -> what it holds."""


def markdown(command: str) -> str:
    """The table of ``command``'s JSON fields, or "" when none is documented."""
    fields = JSON_FIELDS.get(command)
    if not fields:
        return ""
    rows = "\n".join(f"| `{name}` | {text} |" for name, text in fields.items())
    return f"`--json` prints one object:\n\n| field | holds |\n|---|---|\n{rows}\n"
