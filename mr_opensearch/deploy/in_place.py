"""In-place updates (``mros deploy --in-place``): the difference between the new catalog and the live index
applied to the live index itself, for users who update often and accept that the previous state is not kept
(no new index, so ``mros rollback`` has nothing to return to for this change).

Steps, under the alias lock:

1. refuse, with the reason, when the live index is not mros's, is incomplete, or was built with another model,
   embedding mode, dimension, analyzer or field layout (:func:`why_not_in_place`): an in-place update never
   mixes two models' vectors in one index;
2. record the update under way in the manifest (``_meta.updating``: the new catalog's hash);
3. read the live index without its vectors (a point-in-time read, :mod:`mr_opensearch.cluster.index_reader`)
   and compare by product id and fields (:func:`compare`): new products and those whose ``embedding_text``
   changed are embedded and upserted; those whose other fields changed are upserted with their live vector
   (read by ``_mget``, never a partial ``_update``: k-NN #1694/#3536 wipe the vector); products the catalog
   no longer has are deleted; the rest is not touched;
4. refresh, check the count, and write the manifest: the new catalog's hash and size, ``updating`` cleared,
   one more entry in ``updates`` (the history ``mros status`` shows).

Crash safety: every write is by ``_id`` (an upsert or a delete), so a rerun after a kill at any point reads the
index again, finds what is still different, and applies only that: every product ends exactly once, with
the vector of its text. Until the rerun the index serves a mix of the two catalogs, and ``mros status`` says an
update is under way. The named kill points are ``in-place-started``, ``in-place-middle`` and
``in-place-written`` (:mod:`mr_opensearch.deploy.kill_points`).

In engine mode the upserts go without a vector through the index's default ingest pipeline (the
``text_embedding`` processor, which with ``skip_existing`` reuses the stored vector of an unchanged text); in
client mode mros embeds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy import kill_points
from mr_opensearch.deploy.alias_lock import AliasLock
from mr_opensearch.deploy.catalog_difference import Difference, compare, difference_actions
from mr_opensearch.deploy.cloned_index import clear_left_block
from mr_opensearch.deploy.deploy import (
    DeployOptions,
    DeployResult,
    DeployTarget,
    bulk_index,
    check_given_vectors,
    deploy_target,
    embedded_actions,
    open_encode,
    target_documents,
)
from mr_opensearch.deploy.incremental import PhaseClock
from mr_opensearch.deploy.preflight import check_index_name, run_preflight
from mr_opensearch.deploy.write_plan import WritePlan, write_manifest
from mr_opensearch.search.manifest import UPDATE_HISTORY, Manifest, read_index_manifest
from mr_opensearch.search.served_model import ServedModel, client_variant, for_client

Log = Callable[[str], None]


def why_not_in_place(live: str, manifest: Manifest | None, model: ServedModel, target: DeployTarget,
                     options: DeployOptions, embedding: str) -> str | None:
    """Why the live index cannot take the new catalog in place (None: it can)."""
    if manifest is None:
        return f"the live index {live} was not made by mros"
    if not manifest.complete:
        return f"the live index {live} is incomplete"
    checks = [
        (manifest.model_sha256 != model.sha256 or bool(manifest.onnx_sha256 and manifest.onnx_sha256 != model.onnx_sha256),
         f"the live index {live} serves model {manifest.model_sha256[:12]}, this run's is {model.sha256[:12]}"),
        (manifest.embedding != embedding, f"the live index {live} is embedded in {manifest.embedding} mode, this "
                                          f"deploy asks for {embedding} mode"),
        (manifest.dimension != model.dimension, f"the live index {live} holds {manifest.dimension}-d vectors, the "
                                                f"model makes {model.dimension}-d"),
        (manifest.text_analyzer != options.text_analyzer, f"the live index {live} analyses text with "
                                                          f"{manifest.text_analyzer}, not {options.text_analyzer}"),
        (list(manifest.text_fields) != target.text_fields, f"the live index {live} has the text fields "
                                                           f"{manifest.text_fields}, not {target.text_fields}"),
        (list(manifest.embedding_fields) != target.embedding_fields,
         f"the live index {live} embeds {manifest.embedding_fields}, not {target.embedding_fields}"),
        (manifest.vector_layout == "semantic", f"the live index {live} uses a semantic field"),
    ]
    return next((why for failed, why in checks if failed), None)


def update_in_place(client: Any, model: ServedModel, catalog: Any, options: DeployOptions, log: Log = print,
                    encode: Callable[[list[str]], np.ndarray] | None = None) -> DeployResult:
    """Apply ``catalog`` to the live index of ``options.alias`` in place (see the module docstring)."""
    started = time.time()
    alias = check_index_name(options.alias)
    preflight = run_preflight(client, alias=alias, dimension=model.dimension, embedding=options.embedding,
                              allow_dimension_change=False)
    live = preflight.live_index
    if live is None or len(preflight.alias_indices) != 1:
        raise MrosError(f"--in-place needs the alias {alias} on exactly one index; it points at "
                        f"{preflight.alias_indices or 'nothing'}", "deploy without --in-place (a new index)")
    manifest = read_index_manifest(client, live)
    if manifest is not None and manifest.embedding == "client":  # embed with the live index's encoder variant
        model = for_client(model, manifest.encoder_variant or client_variant(model)[0])
    target = deploy_target(model, catalog, options)
    check_given_vectors(options.vectors, model, target, preflight.embedding)
    reason = why_not_in_place(live, manifest, model, target, options, preflight.embedding)
    if reason:
        raise MrosError(f"--in-place refused: {reason}", "deploy without --in-place: a new index is built behind the "
                        "alias (incremental when the model is the same)")
    assert manifest is not None
    if encode is None and manifest.embedding == "client":
        encode = open_encode(model, options)
    plan = WritePlan(options.dry_run)
    result = DeployResult(index=live, alias=alias, embedding=manifest.embedding, embedding_reason="the live index's",
                          action="", documents=len(target.ids), written=0, seconds=0.0, previous_index=None,
                          warnings=list(preflight.warnings), dry_run=options.dry_run, in_place=True)
    lock = None if options.dry_run else AliasLock(client, alias, command="deploy --in-place", log=log).acquire(
        options.lock_wait)
    try:
        if lock is not None:
            manifest = clear_left_block(client, plan, live, manifest, lock.ensure_held, log)
        _apply(client, model, target, options, manifest, plan, result, encode, lock, log)
    finally:
        if lock is not None:
            lock.release()
    result.plan = plan.entries
    result.seconds = time.time() - started
    return result


def _apply(client: Any, model: ServedModel, target: DeployTarget, options: DeployOptions, manifest: Manifest,
           plan: WritePlan, result: DeployResult, encode: Callable[[list[str]], np.ndarray] | None,
           lock: AliasLock | None, log: Log) -> None:
    check_lock = lock.ensure_held if lock is not None else (lambda: None)
    live, clock, started = result.index, PhaseClock(options.phase_counters), time.time()
    with clock.measure("compare"):
        result.stage = "compare with the live index"
        difference = compare(client, live, list(target_documents(target)))
    result.unchanged, result.removed = difference.unchanged, len(difference.delete)
    result.fields_updated = len(difference.fields_only)
    if difference.empty and manifest.catalog_sha256 == target.catalog_sha and manifest.updating is None:
        result.action, result.manifest = "nothing to do", manifest.to_meta()
        result.phase_seconds, result.phase_counters = clock.seconds, clock.spent
        return
    _check_shrink(live, difference, options)
    resumed = manifest.updating is not None
    log(f"deploy --in-place: {live}{' (finishing an interrupted update)' if resumed else ''}: "
        f"{len(difference.embed)} to embed, {len(difference.fields_only)} with other fields changed, "
        f"{len(difference.delete)} to delete, {difference.unchanged} unchanged")
    result.stage = "mark the update"
    updating = {"catalog_sha256": target.catalog_sha, "catalog": options.catalog_path,
                "started_at": _now()}
    write_manifest(client, plan, live, manifest.model_copy(update={"updating": updating}), check_lock)
    if not plan.dry_run:
        kill_points.reached("in-place-started")
    with clock.measure("embed and write"):
        result.stage = "write the difference"
        actions = difference_actions(client, live, difference, manifest.embedding,
                                     embedded_actions(live, difference, encode, model, options))
        if plan.dry_run:
            plan.note("POST", "/_bulk", summary=f"{len(difference.embed)} upserts embedded, "
                      f"{len(difference.fields_only)} upserts with the live vector, {len(difference.delete)} deletes")
        else:
            result.written = bulk_index(client, actions, chunk_size=options.batch_size,
                                        total=len(difference.embed) + len(difference.fields_only) +
                                        len(difference.delete), progress=options.progress,
                                        desc=f"updating {live}", result=result, middle_point="in-place-middle")
            kill_points.reached("in-place-written")
    result.embedded, result.from_vectors_file = len(difference.embed), difference.from_file
    with clock.measure("refresh and record"):
        result.stage = "refresh"
        plan.write("POST", f"/{live}/_refresh", None, lambda: client.indices.refresh(index=live))
        if not plan.dry_run:
            count = client.count(index=live)["count"]
            if count != len(target.ids):
                raise MrosError(f"{live} holds {count} documents after the update, the catalog has {len(target.ids)}",
                                "rerun the same command: it applies what is still different")
        result.stage = "record the update"
        entry = {"at": _now(), "catalog_sha256": target.catalog_sha, "catalog": options.catalog_path,
                 "embedded": len(difference.embed), "from_vectors_file": difference.from_file,
                 "fields_updated": len(difference.fields_only),
                 "deleted": len(difference.delete), "seconds": round(time.time() - started, 3)}
        updated = manifest.model_copy(update={
            "updating": None, "catalog_sha256": target.catalog_sha, "catalog": options.catalog_path,
            "documents": len(target.ids), "updates": [*manifest.updates, entry][-UPDATE_HISTORY:]})
        write_manifest(client, plan, live, updated, check_lock)
    result.action = "updated in place"
    result.manifest = updated.to_meta()
    result.phase_seconds, result.phase_counters = clock.seconds, clock.spent


def _check_shrink(live: str, difference: Difference, options: DeployOptions) -> None:
    """Refuse, before anything is written, a catalog that would delete more than ``options.max_shrink`` of the
    live index (unless ``options.allow_shrink``): a truncated export, or ids written in another format."""
    deleted, total = len(difference.delete), difference.live
    if options.allow_shrink or not total or deleted <= options.max_shrink * total:
        return
    reason = ("almost none of the catalog's ids is in the index: did the id column change format (e.g. 100001 "
              "written as 100001.0, or a prefix)?") if deleted > 0.9 * total else "a truncated export?"
    raise MrosError(f"--in-place would delete {deleted} of the {total} products of {live} ({deleted / total:.0%}, "
                    f"more than the {options.max_shrink:.0%} allowed) and embed {len(difference.embed)}; {reason}",
                    "check the catalog file; if those products really left the shop, rerun with {allow_shrink}",
                    parameters="allow_shrink")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
