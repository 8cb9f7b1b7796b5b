"""Incremental deploys by ``_clone`` (``--copy clone``, the default): the new index starts as a copy of the live
index's segments, then takes the catalog's difference in place.

``POST /<live>/_clone/<new>`` hard-links the live index's segment files (its HNSW graphs included) into the
new index: 54,667 products cloned in under half a second on the local node, where writing them again makes
the node insert every vector into a new graph. The difference between the new catalog and the clone is
then applied as ``--in-place`` applies it (:func:`mr_opensearch.deploy.in_place.compare`): new and edited
products embedded and upserted, products whose other fields changed upserted with their vector, removed ones
deleted. The result holds the documents and vectors a full deploy of the new catalog would (BM25 statistics
may differ until the deleted documents are merged away), the live index is not changed, the alias moves as
after any deploy and ``mros rollback`` returns to the live index.

Steps (under the alias lock), each safe to repeat:

1. record ``cloning_into`` in the live index's manifest, then set ``index.blocks.write`` on it (a clone
   needs a source that takes no writes; searches go on; kill point ``live-blocked``);
2. clone it into the new index with the new index's dynamic settings (replicas, refresh off, pipelines,
   ``ef_search``) and the write block cleared on the copy;
3. clear the block and ``cloning_into`` on the live index (kill point ``cloned``);
4. write the new index's own manifest (incomplete, ``cloned_from`` the live index);
5. apply the difference (kill points ``in-place-middle``), refresh, count, mark complete.

A kill before step 4 leaves a clone that still carries the live index's manifest (its ``index`` names the
live index): a rerun deletes it (no alias points at it) and clones again, and clears a block step 1 left
(``cloning_into`` says it was mros's). A kill after step 4 is resumed: the rerun applies what is still
different. A write block mros did not set is left alone, and the deploy copies by reading instead
(:func:`why_not_clone`); so it does when the layout differs in a static setting or the field mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy import kill_points
from mr_opensearch.deploy.write_plan import WritePlan, write_manifest
from mr_opensearch.search.manifest import Manifest

WRITE_BLOCK = "index.blocks.write"
DYNAMIC_SETTINGS = ("index.number_of_replicas", "index.refresh_interval", "index.default_pipeline",
                    "index.search.default_pipeline", "index.knn.algo_param.ef_search")
"""Settings of the new index that may differ from the live one's: given to the clone request."""


def flat_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"index.knn": "true", ...}``, values as OpenSearch prints them."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_settings(value, name + "."))
        else:
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def live_settings(client: Any, index: str) -> dict[str, str]:
    found = client.indices.get_settings(index=index, flat_settings=True)
    return dict((found.get(index) or next(iter(found.values()), {})).get("settings", {}))


def why_not_clone(client: Any, live: str, body: Mapping[str, Any], live_manifest: Manifest) -> str | None:
    """Why the new index (created by ``body``) cannot start as a clone of ``live`` (None: it can): a static
    setting (shards, ``index.knn``) or a field's mapping differs (the live index may carry parameters the
    cluster added, and neural-search's ``*_semantic_info`` fields), or ``live`` carries a write block mros did
    not set."""
    have = live_settings(client, live)
    for key, value in flat_settings(body["settings"]).items():
        if key not in DYNAMIC_SETTINGS and have.get(key) != value:
            return f"its setting {key} is {have.get(key)}, the new index's {value}"
    mapping = client.indices.get_mapping(index=live)
    mappings = (mapping.get(live) or next(iter(mapping.values()))).get("mappings", {})
    if mappings.get("dynamic") != body["mappings"].get("dynamic"):
        return "its mapping's dynamic setting differs from the new index's"
    have_fields, want_fields = mappings.get("properties") or {}, body["mappings"].get("properties") or {}
    for name, spec in want_fields.items():
        if not _contains(have_fields.get(name), spec):
            return f"its mapping of {name} differs from the new index's"
    extra = [name for name in have_fields if name not in want_fields and not name.endswith(SEMANTIC_INFO_SUFFIX)]
    if extra:
        return f"it has fields the new index lacks: {', '.join(sorted(extra))}"
    if have.get(WRITE_BLOCK) == "true" and not live_manifest.cloning_into:
        return f"it carries {WRITE_BLOCK}, which mros did not set"
    return None


SEMANTIC_INFO_SUFFIX = "_semantic_info"
"""neural-search adds ``<field>_semantic_info`` to the mapping of an index with a ``semantic`` field."""


def _contains(have: Any, want: Any) -> bool:
    """Whether the mapping ``have`` sets every parameter of ``want`` the same (the cluster may add its own)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(_contains(have.get(key), value) for key, value in want.items())
    return have == want or str(have).lower() == str(want).lower()


def interrupted_clone(client: Any, name: str, manifest: Manifest | None) -> bool:
    """Whether the index ``name`` is a clone whose own manifest was never written (a deploy killed between the
    clone and step 4): it carries the manifest of the index it was cloned from."""
    if manifest is None or manifest.index == name:
        return False
    return bool(live_settings(client, name).get("index.resize.source.name"))


def discard_interrupted_clone(client: Any, plan: WritePlan, name: str, log: Callable[[str], None]) -> None:
    """Delete the clone ``name`` left by a killed deploy (refused if an alias points at it)."""
    aliases = client.indices.get_alias(index=name).get(name, {}).get("aliases", {})
    if aliases:
        raise MrosError(f"index {name} is a clone of another index without its own manifest, and the aliases "
                        f"{sorted(aliases)} point at it", f"move those aliases away, then `DELETE /{name}` and rerun")
    log(f"deploy: {name} is the clone an interrupted deploy left before writing its manifest; it is cloned again")
    plan.write("DELETE", f"/{name}", None, lambda: client.indices.delete(index=name))


def clone_live(client: Any, plan: WritePlan, live: str, live_manifest: Manifest, index: str,
               body: Mapping[str, Any], manifest: Manifest, check_lock: Callable[[], None]) -> None:
    """Steps 1 to 4 of the module docstring: ``index`` made a clone of ``live`` with ``manifest``."""
    marked = live_manifest.model_copy(update={"cloning_into": index})
    write_manifest(client, plan, live, marked, check_lock)
    _put_settings(client, plan, live, {WRITE_BLOCK: True})
    if not plan.dry_run:
        kill_points.reached("live-blocked")
    try:
        wanted = flat_settings(body["settings"])
        settings: dict[str, Any] = {key: wanted[key] for key in DYNAMIC_SETTINGS if key in wanted}
        settings[WRITE_BLOCK] = None
        clone_body = {"settings": settings}
        plan.write("POST", f"/{live}/_clone/{index}", clone_body,
                   lambda: client.indices.clone(index=live, target=index, body=clone_body,
                                                wait_for_active_shards="1", request_timeout=120),
                   summary=f"{index} starts as a copy of {live}'s segments (vectors and graphs included)")
    finally:
        _put_settings(client, plan, live, {WRITE_BLOCK: None})
        write_manifest(client, plan, live, live_manifest.model_copy(update={"cloning_into": None}), check_lock)
    if not plan.dry_run:
        kill_points.reached("cloned")
    write_manifest(client, plan, index, manifest, check_lock)


def clear_left_block(client: Any, plan: WritePlan, live: str, live_manifest: Manifest,
                     check_lock: Callable[[], None], log: Callable[[str], None]) -> Manifest:
    """A deploy killed while cloning left ``live`` write-blocked (its manifest says ``cloning_into``): the block
    and the mark are cleared; returns the live manifest without the mark."""
    if not live_manifest.cloning_into:
        return live_manifest
    log(f"deploy: clearing the write block an interrupted clone left on {live}")
    _put_settings(client, plan, live, {WRITE_BLOCK: None})
    cleared = live_manifest.model_copy(update={"cloning_into": None})
    write_manifest(client, plan, live, cleared, check_lock)
    return cleared


def _put_settings(client: Any, plan: WritePlan, index: str, settings: dict[str, Any]) -> None:
    plan.write("PUT", f"/{index}/_settings", settings, lambda: client.indices.put_settings(index=index, body=settings))
