"""``mros deploy``: a trained run and a catalog into a new index behind an alias, safely.

Order of work (each step only after the one before succeeded):

1. the model is loaded and embeds a probe text (:func:`mr_opensearch.search.served_model.open_encoder`), then
   preflight (:mod:`mr_opensearch.deploy.preflight`) checks the cluster, and the index the deploy would resume
   and the ones ``--keep`` would delete are checked for blocks: nothing is written when any refuses;
   then the alias lock (:mod:`mr_opensearch.deploy.alias_lock`) is taken, so of two deploys to one alias
   only one writes (the other refuses naming the holder, or waits with ``--wait``), and the preflight's
   reads are repeated under the lock;
2. the index name is ``<alias>-<model sha[:10]>-<catalog sha[:8]>``: the same run and catalog always
   map to the same index, so a second deploy of them finds it complete and writes nothing;
3. engine mode: the model is found by its content hash or registered (ML Commons does not
   deduplicate; on OpenSearch 3.1+ with ``additional_config.space_type``), deployed, and self-checked
   (:mod:`mr_opensearch.deploy.engine_check`: its predicted vectors of catalog texts must match the ONNX
   model's, or the deploy stops before anything is written for the index); then the vector layout
   (:func:`_vector_layout`): on 3.1+ ``embedding_text`` is neural-search's ``semantic`` field naming the
   model (``mappings/product-index-semantic.json``, no ingest pipeline), before 3.1 a ``knn_vector``
   filled by a ``text_embedding`` ingest pipeline; a hybrid search pipeline either way; client mode:
   the served model is copied to ``$MROS_HOME/models/<sha>``;
4. the index is created with ``_meta.complete = false`` and filled: documents use the product id as
   ``_id`` (a resent batch overwrites, never duplicates); in client mode batches are embedded by
   encoder worker threads (one per core, :func:`encode_workers`) while the previous ones are bulk-indexed
   (``helpers.streaming_bulk``); in engine mode the stored vectors of the first bulk request's documents
   are read back and checked before the second is sent (a mismatch deletes the incomplete index and
   stops the deploy);
5. refresh, count check, ``_meta.complete = true``; only then the alias moves, in one ``_aliases``
   call; the previous index stays for ``mros rollback``; ``--keep N`` prunes older complete ones.

Faults: every request is retried by the client's :mod:`mr_opensearch.cluster.retry_policy`. A create that was
carried out but whose answer was lost is answered ``resource_already_exists`` when resent: the index
found is accepted when its manifest is the one just sent. When the policy gives up, the deploy stops
with a :class:`MrosError` that says where it stopped and what is done (index created or not, documents
acknowledged, marked complete or not, alias moved or not); a rerun finishes it.

Crash safety: a deploy killed at any point (``SIGKILL`` included) converges when rerun. The alias only
ever points at complete indices, and no other index is written before the move. A rerun that finds the
index incomplete *resumes* it: refresh, read the ``_id`` s already in it (a point-in-time read without
``_source``, :mod:`mr_opensearch.cluster.index_reader`), and embed and send only the missing documents (the
index is per (model, catalog) content, so a document present is right). The lock of a killed deploy is taken over (its process is gone, or its heartbeat
expired). The named points where tests kill a deploy are in :mod:`mr_opensearch.deploy.kill_points`.

Every write goes through one :class:`~mr_opensearch.deploy.write_plan.WritePlan`, ML Commons' included:
``--dry-run`` records every request the deploy would send (chunk uploads and the bulk load summarised)
and sends only reads.

The code reads in the order of the work: :func:`deploy` (preflight, lock), :func:`_deploy_locked` (the
result, then reuse or build, then the alias), :func:`_build` and its steps (:func:`_serving_side` with
the ML Commons wiring :func:`_engine_side`, :func:`_mapping` and :func:`_create`, :func:`_bulk_load`,
:func:`_mark_complete`). Each step sets the :attr:`DeployResult.stage` it is in.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mr_opensearch.cluster.index_reader import ids_in_index
from mr_opensearch.cluster.retry_policy import RetriesExhausted
from mr_opensearch.cluster.vector_index import catalog_fingerprint
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.core.hashing import text_key
from mr_opensearch.core.templates import render
from mr_opensearch.deploy import engine_check, kill_points
from mr_opensearch.deploy.alias_lock import AliasLock
from mr_opensearch.deploy.catalog_difference import Difference, compare, difference_actions
from mr_opensearch.deploy.cloned_index import (
    clear_left_block,
    clone_live,
    discard_interrupted_clone,
    interrupted_clone,
    why_not_clone,
)
from mr_opensearch.deploy.incremental import (
    CopyMethod,
    LiveCopy,
    PhaseClock,
    reindex_documents,
    reuse_source,
    unchanged_ids,
)
from mr_opensearch.deploy.index_layout import IndexLayout, index_layout
from mr_opensearch.deploy.preflight import (
    BLOCKS_ON_ALIAS_MOVE,
    BLOCKS_ON_WRITE,
    Preflight,
    check_index_name,
    refuse_blocked,
    run_preflight,
)
from mr_opensearch.deploy.release_gate import GateOptions, GateRefused, check_gate_judgments, run_gate
from mr_opensearch.deploy.release_gate import describe as describe_gate
from mr_opensearch.deploy.text_analyzers import DEFAULT as DEFAULT_TEXT_ANALYZER
from mr_opensearch.deploy.text_analyzers import check_text_analyzer, text_field_mapping
from mr_opensearch.deploy.write_plan import WritePlan, write_manifest
from mr_opensearch.search.manifest import (
    KNN_VECTOR_FIELD,
    SEMANTIC_FIELD,
    Manifest,
    VectorLayout,
    read_index_manifest,
)
from mr_opensearch.search.served_model import (
    ServedModel,
    check_package,
    client_variant,
    for_client,
    open_encoder,
    store_served_copy,
)
from mr_opensearch.search.vectors_file import VectorsFile, check_ids, check_model

Log = Callable[[str], None]


@dataclass
class DeployOptions:
    alias: str
    embedding: str = "auto"
    dry_run: bool = False
    keep: int | None = None
    batch_size: int = 256
    encode_batch_size: int = 64
    encode_workers: int | None = None
    """Client mode: threads embedding whole batches at once (default: one per CPU core, at most 8)."""
    encode_threads: int | None = None
    """Client mode: onnxruntime's intra-op threads per batch (default: 1 with several workers)."""
    hnsw_m: int = 16
    ef_construction: int = 128
    ef_search: int = 400
    """HNSW candidates per search (``knn.algo_param.ef_search``; lucene takes max(k, ef_search)). On the full
    Home Depot catalog 100 cost 2.6% of dense nDCG@10 against exact search, 400 cost 0.5%, for about
    2 ms per query (docs/benchmarks.md, 2026-12-03)."""
    shards: int | None = None
    """Shards of the new index (default: from the catalog's estimated size, :mod:`index_layout`)."""
    replicas: int | None = None
    """Replicas of the new index (default: 0 on one data node, else 1, :mod:`index_layout`)."""
    allow_yellow: bool = False
    """Deploy on a yellow cluster of several data nodes (a node lost or shards recovering; refused otherwise)."""
    text_fields: tuple[str, ...] = ()
    text_analyzer: str = DEFAULT_TEXT_ANALYZER
    """Built-in analyzer of the BM25 text fields (:mod:`mr_opensearch.deploy.text_analyzers`)."""
    embedding_fields: tuple[str, ...] = ()
    hybrid: dict[str, Any] | None = None
    allow_dimension_change: bool = False
    progress: bool = False
    catalog_path: str | None = None
    lock_wait: float = 0.0
    full: bool = False
    """Embed every product even when the live index serves the same model (no incremental copy)."""
    phase_counters: dict[str, Callable[[], float]] | None = None
    """Extra counters read at the start and end of each phase (``DeployResult.phase_counters``), e.g. a
    benchmark's reading of the node's CPU seconds; mros's own CPU seconds are always counted."""
    vectors: VectorsFile | None = None
    """``--vectors``: precomputed vectors (:mod:`mr_opensearch.search.vectors_file`), used for the documents
    whose ``embedding_text`` they are of; the rest is embedded on the spot. Client mode only."""
    copy: CopyMethod = "clone"
    """How an incremental deploy copies the live vectors: ``clone`` the live index and apply the difference
    (:mod:`cloned_index`), ``read`` them and bulk-write them, or let the cluster ``reindex`` the unchanged
    documents (:mod:`incremental`)."""
    gate: GateOptions | None = None
    """``--gate``: measure the new index against the live one before the alias moves (:mod:`release_gate`)."""
    max_shrink: float = 0.10
    """The largest share of the live index's products a new catalog may leave out; above it the deploy
    refuses (a truncated export would otherwise empty the shop's search), unless ``allow_shrink``."""
    allow_shrink: bool = False


@dataclass
class DeployResult:
    index: str
    alias: str
    embedding: str
    embedding_reason: str
    action: str
    documents: int
    written: int
    seconds: float
    already_present: int = 0
    encode_seconds: float = 0.0
    model_id: str | None = None
    previous_index: str | None = None
    pruned: list[str] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    embedded: int = 0
    """Documents embedded in this deploy (by mros in client mode, by the ingest pipeline in engine mode)."""
    from_vectors_file: int = 0
    """Documents written with their vector from ``--vectors`` (not embedded)."""
    copied: int = 0
    """Documents written with the live index's vector of their unchanged text (an incremental deploy)."""
    removed: int = 0
    """Products of the live index the new catalog no longer has."""
    unchanged: int = 0
    """``--in-place``: products whose live document already equals the catalog's (not written)."""
    fields_updated: int = 0
    """``--in-place``: products whose ``embedding_text`` is unchanged but another field changed (upserted with
    the live vector)."""
    in_place: bool = False
    """The live index was updated in place (``--in-place``), no new index."""
    incremental_from: str | None = None
    """The live index whose vectors an incremental deploy reused (None: a full deploy)."""
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per phase."""
    phase_counters: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per phase, what each counter of :class:`~mr_opensearch.deploy.incremental.PhaseClock` grew by
    (``cpu_seconds``: mros's own CPU; more with ``DeployOptions.phase_counters``)."""
    dry_run: bool = False
    shards: int | None = None
    replicas: int | None = None
    stage: str = "preflight"
    """The step under way (for the message when the cluster stops answering): preflight, engine self-check,
    create index, index documents, refresh, count, settings, mark complete, move alias, prune, done."""

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.written and self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "stage"}
        out["docs_per_second"] = self.docs_per_second
        return out


def index_name(alias: str, model_sha: str, catalog_sha: str, text_analyzer: str = "standard",
               variant: str | None = None) -> str:
    """``<alias>-<model hash>-<catalog hash>``; with another analyzer than ``standard`` the third part hashes
    the catalog and the analyzer together, so an index is never reused for another text analysis; with a
    ``variant`` other than the package's ML Commons one (client mode) the second part hashes the model and
    the variant together, so an index never mixes the vectors of two variants."""
    layout = catalog_sha if text_analyzer == "standard" else text_key(f"{catalog_sha}\x1d{text_analyzer}")
    model = model_sha if variant is None else text_key(f"{model_sha}\x1d{variant}")
    return f"{alias}-{model[:10]}-{layout[:8]}".lower()


def hybrid_settings(model: ServedModel, given: dict[str, Any] | None, preflight: Preflight) -> dict[str, Any]:
    """The hybrid settings the index serves: tuned ones when given, else boundary-aware defaults."""
    from mr_opensearch.search.fusion import HybridSettings

    values: dict[str, Any] = dict(given or {})
    if "lower_bound_mode" not in values:
        values["lower_bound_mode"] = "apply" if model.boundaries is not None else "none"
    if values["lower_bound_mode"] != "none" and values.get("dense_lower_bound") is None:
        if model.boundaries is None:
            raise MrosError("the hybrid settings bound the dense leg but the run has no boundaries.json",
                            "retrain with `mros train`, or tune with lower_bound_mode none")
        values["dense_lower_bound"] = model.boundaries.engine_score["partial"]
    settings = HybridSettings(**values)
    if settings.min_score is not None and not preflight.supports_hybrid_min_score:
        raise MrosError(f"the hybrid min_score cut-off needs OpenSearch 3.5+, the cluster runs {preflight.version}",
                        "tune without a min_score, or upgrade the cluster")
    return settings.model_dump(mode="json")


def encode_workers(options: DeployOptions) -> int:
    """How many batches client mode embeds at once: ``options.encode_workers``, else one per CPU core this
    process may use, at most 8. On the 2-core benchmark machine two one-thread workers embedded 14% more
    documents per second during a deploy than one two-thread session (docs/benchmarks.md, deploy profile)."""
    if options.encode_workers:
        return options.encode_workers
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def encoded_batches(docs: list[dict], encode: Callable[[list[str]], np.ndarray], batch: int,
                     timer: dict[str, float], workers: int = 1) -> Iterator[tuple[list[dict], np.ndarray]]:
    """Batches with their vectors, in order, embedded by ``workers`` background threads a few batches
    ahead of the bulk load (onnxruntime releases the GIL, so two workers with one intra-op thread each
    run two batches at once instead of splitting each small batch across threads).

    The documents go out longest text first, so each batch holds texts of about one length and the
    encoder pads little (on the Home Depot titles: 1.6x fewer tokens than batches in catalog order);
    the order of a bulk load does not matter, every document has its own ``_id``."""
    from concurrent.futures import Future, ThreadPoolExecutor

    ordered = sorted(docs, key=lambda d: len(d["embedding_text"]), reverse=True)
    chunks = (ordered[s : s + batch] for s in range(0, len(ordered), batch))
    lock = threading.Lock()

    def embed(chunk: list[dict]) -> np.ndarray:
        t = time.perf_counter()
        vectors = encode([d["embedding_text"] for d in chunk])
        with lock:
            timer["encode"] += time.perf_counter() - t
        return vectors

    pending: collections.deque[tuple[list[dict], Future]] = collections.deque()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mros-encode") as pool:
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(embed, chunk)))
                if len(pending) > max(1, workers) + 2:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def json_vectors(vectors: np.ndarray) -> list[list[float]]:
    """Rows of ``vectors`` as lists of floats rounded to 7 decimals (float32 holds about 7 significant
    digits; shorter JSON than the float64 expansion), in one vectorised step."""
    return np.round(vectors.astype(np.float64), 7).tolist()


def bulk_index(client: Any, actions: Iterator[dict], *, chunk_size: int, total: int, progress: bool, desc: str,
               result: DeployResult | None = None, after_first: Callable[[list[str]], None] | None = None,
               middle_point: str = "bulk-middle", concurrency: int = 1) -> int:
    """Index ``actions``; ``result.written`` counts acknowledged documents as they come. ``after_first(ids)``
    runs once the first bulk request's items are all answered (``ids``: the documents it acknowledged),
    before the second request is sent (only with ``concurrency`` 1). ``concurrency``: bulk requests in
    flight at once (:func:`_concurrent_bulk`; a shard indexes concurrent requests on as many threads).

    The progress bar starts with the first acknowledged bulk request, so its rate and ETA leave out the
    encoder's warm-up (the first batches of a fresh ONNX session run several times slower)."""
    from opensearchpy import helpers

    bar = _WarmBar(total, desc) if progress else None
    failed, first_error, written = 0, None, 0
    half = max(1, total // 2)
    first_request, first_ids = min(chunk_size, total), []
    try:
        answers = helpers.streaming_bulk(client, actions, chunk_size=chunk_size, raise_on_error=False, max_retries=5,
                                         initial_backoff=1, max_backoff=30) if concurrency <= 1 else \
            _concurrent_bulk(client, actions, chunk_size=chunk_size, concurrency=concurrency)
        for ok, item in answers:
            if ok:
                written += 1
                if result is not None:
                    result.written = written
                if written == half:
                    kill_points.reached(middle_point)
            else:
                failed += 1
                first_error = first_error or item
            if bar is not None:
                bar.update(1)
            if after_first is not None and written + failed <= first_request:
                if ok:
                    first_ids.append(str(next(iter(item.values())).get("_id")))
                if written + failed == first_request:
                    after_first(first_ids)
    finally:
        if bar is not None:
            bar.close()
    if failed:
        raise MrosError(f"{failed} documents were rejected; first: {json.dumps(first_error, default=str)[:500]}",
                        "fix the cause and rerun: the index stays incomplete, no alias points at it, and a "
                        "rerun sends the documents again (same ids, no duplicates)")
    return written


def _concurrent_bulk(client: Any, actions: Iterator[dict], *, chunk_size: int,
                     concurrency: int) -> Iterator[tuple[bool, dict]]:
    """``helpers.streaming_bulk``'s answers with ``concurrency`` requests in flight: each worker thread runs its
    own ``streaming_bulk`` over the shared ``actions`` (drawn under a lock); the answers come back here, in the
    caller's thread, as they arrive. A worker's exception is raised here, after the others are told to stop."""
    import queue

    from opensearchpy import helpers

    source, lock, stop = iter(actions), threading.Lock(), threading.Event()
    answers: queue.Queue[Any] = queue.Queue(maxsize=4 * chunk_size)
    done = object()

    def pull() -> Iterator[dict]:
        while not stop.is_set():
            with lock:
                try:
                    action = next(source)
                except StopIteration:
                    return
            yield action

    def work() -> None:
        try:
            for answer in helpers.streaming_bulk(client, pull(), chunk_size=chunk_size, raise_on_error=False,
                                                 max_retries=5, initial_backoff=1, max_backoff=30):
                answers.put(answer)
        except BaseException as exc:
            stop.set()
            answers.put(exc)
        finally:
            answers.put(done)

    workers = [threading.Thread(target=work, name=f"mros-bulk-{i}", daemon=True) for i in range(concurrency)]
    for worker in workers:
        worker.start()
    running = len(workers)
    try:
        while running:
            answer = answers.get()
            if answer is done:
                running -= 1
            elif isinstance(answer, BaseException):
                raise answer
            else:
                yield answer
    finally:
        stop.set()
        while any(w.is_alive() for w in workers):  # let blocked workers finish their put
            with contextlib.suppress(queue.Empty):
                answers.get(timeout=0.1)


class _WarmBar:
    """A document bar whose clock starts at the first acknowledged bulk request (until then one line says
    the encoder warms up), so the first ETA is not that of the warm-up."""

    def __init__(self, total: int, desc: str) -> None:
        from mr_opensearch.core.console import console_stream

        self.total, self.desc, self.stream = total, desc, console_stream()
        self.bar: Any = None
        print(f"{desc}: warming up (the first batches are embedded and sent)", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        if self.bar is None:  # the first bulk request was answered: the clock starts now
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, initial=n, desc=self.desc, unit="doc", file=self.stream)
        else:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def layout_of(options: DeployOptions, preflight: Preflight, documents: int, dimension: int) -> IndexLayout:
    """The new index's shards and replicas on the cluster the preflight found (``--shards`` / ``--replicas``
    when given)."""
    return index_layout(documents, dimension, preflight.data_nodes, shards=options.shards, replicas=options.replicas)


def mros_indices(client: Any, alias: str) -> list[tuple[str, Manifest]]:
    """Every index mros made for ``alias``, oldest first (by completion, then creation time)."""
    from opensearchpy.exceptions import NotFoundError

    try:
        found = client.indices.get(index=f"{alias}-*", expand_wildcards="open")
    except NotFoundError:  # nothing matches the pattern; any other failure is the caller's to see
        return []
    out = []
    for name, body in found.items():
        manifest = Manifest.from_meta(body.get("mappings", {}).get("_meta"), name)
        if manifest is not None and manifest.alias == alias:
            out.append((name, manifest))
    out.sort(key=lambda item: (item[1].completed_at or item[1].created_at, item[0]))
    return out


def move_alias(client: Any, plan: WritePlan, alias: str, index: str, current: list[str]) -> None:
    """``alias`` off the indices in ``current`` and onto ``index``, in one ``_aliases`` call."""
    actions: list[dict] = [{"remove": {"index": other, "alias": alias}} for other in current if other != index]
    actions.append({"add": {"index": index, "alias": alias}})
    body = {"actions": actions}
    plan.write("POST", "/_aliases", body, lambda: client.indices.update_aliases(body=body))


def prune_candidates(client: Any, alias: str, keep: int, live: str) -> list[str]:
    """The complete indices of ``alias`` beyond the ``keep`` newest once ``live`` is live (it counts), and
    every incomplete one but ``live`` (left by failed deploys; under the deploy's lock none is being filled)."""
    if keep < 1:
        raise UsageError("{keep} must be at least 1 (the live index)", parameters="keep")
    indices = mros_indices(client, alias)
    complete = [name for name, m in indices if m.complete]
    if live not in complete:
        complete.append(live)
    others = [name for name in complete if name != live]
    incomplete = [name for name, m in indices if not m.complete and name != live]
    return others[: max(0, len(complete) - keep)] + incomplete


def prune(client: Any, plan: WritePlan, alias: str, keep: int, live: str) -> list[str]:
    """Delete the oldest complete indices of ``alias`` beyond the ``keep`` newest (the live one counts)."""
    doomed = prune_candidates(client, alias, keep, live)
    for name in doomed:
        # ignore_unavailable: a resent DELETE whose first answer was lost finds nothing
        plan.write("DELETE", f"/{name}", None,
                   lambda name=name: client.indices.delete(index=name, ignore_unavailable=True))
    return doomed


def deploy(client: Any, model: ServedModel, catalog: Any, options: DeployOptions, log: Log = print,
           encode: Callable[[list[str]], np.ndarray] | None = None) -> DeployResult:
    """Deploy ``model`` with ``catalog`` (a :class:`mr_opensearch.core.catalog.ServingCatalog`).

    The preflight refuses before anything is written; a real deploy then takes the alias lock and holds
    it (heartbeat) until it returns or fails; ``--dry-run`` takes no lock. When the cluster stops
    answering for longer than the retry budget, the error says where the deploy stopped and what is done
    (:func:`_stopped`, from the stage its :class:`DeployResult` reached)."""
    try:
        return _deploy(client, model, catalog, options, log, encode)
    except RetriesExhausted as exc:  # before the deploy's result existed: during the preflight checks
        raise MrosError(f"deploy stopped during the preflight checks: {exc.message}. Nothing was written",
                        STOPPED_HINT, parameters="retry_budget_s") from exc


STOPPED_HINT = ("rerun the same deploy once the cluster answers again: it finds the index and finishes it (documents "
                "are resent under the same ids, nothing is duplicated); {retry_budget_s} SECONDS waits out longer outages")


def _stopped(exc: RetriesExhausted, result: DeployResult) -> MrosError:
    """The error for a deploy the cluster stopped answering at ``result.stage``: where it stopped and what is done."""
    return MrosError(f"deploy stopped while {result.stage}: {exc.message}. Done: {_done_so_far(result)}",
                     STOPPED_HINT, parameters="retry_budget_s")


class DeployInterrupted(MrosError):
    """Ctrl-C (SIGINT) during a deploy: what state it leaves, and that a rerun finishes it (exit 130)."""

    def __init__(self, result: DeployResult) -> None:
        super().__init__(f"deploy interrupted while {result.stage}. Done: {_done_so_far(result)}",
                         "rerun the same command to finish it: it finds the index and sends only the documents "
                         "still missing (nothing is duplicated); the alias lock was released", exit_code=130)


def _done_so_far(result: DeployResult) -> str:
    """What a deploy stopped at ``result.stage`` has done: the index (created, filled, marked complete?)
    and the alias (moved?); an answer lost in flight is said to be unknown."""
    stage = result.stage
    if result.action not in ("created", "resumed"):
        index = f"index {result.index} was not created" if stage in ("preflight", "engine self-check",
                                                                     "create index") else \
            f"index {result.index} is complete"
    else:
        index = (f"index {result.index} {'was created' if result.action == 'created' else 'exists'} and got "
                 f"{result.written} of {result.documents} documents in this deploy; ")
        index += {"mark complete": "whether it is marked complete is unknown (the answer was lost)",
                  "move alias": "it is complete", "prune": "it is complete"}.get(
            stage, "it is incomplete (_meta.complete is false)")
    if stage == "move alias":
        alias = f"whether the alias {result.alias} moved is unknown (the answer was lost)"
    elif stage == "prune":
        alias = f"the alias {result.alias} was moved to it; older indices may be left to prune"
    else:
        alias = f"the alias {result.alias} was not moved" + (
            f" (it still points at {result.previous_index})" if result.previous_index else "")
    return f"{index}; {alias}"


def open_encode(model: ServedModel, options: DeployOptions) -> Callable[[list[str]], np.ndarray]:
    """The deploy's embedding function: the model's variant, checked on a probe text, run by
    :func:`encode_workers` threads at once with one runtime thread each (unless ``encode_threads``)."""
    workers = encode_workers(options)
    encoder = open_encoder(model, threads=options.encode_threads or (1 if workers > 1 else None), spinning=False,
                           streams=workers)
    return lambda batch: encoder.encode(batch, options.encode_batch_size)


def _deploy(client: Any, model: ServedModel, catalog: Any, options: DeployOptions, log: Log,
            encode: Callable[[list[str]], np.ndarray] | None) -> DeployResult:
    """The preflight, then the lock, then :func:`_deploy_locked` under it."""
    started = time.time()
    alias = check_index_name(options.alias)
    check_text_analyzer(options.text_analyzer)
    opened = encode is None
    if encode is None:
        encode = open_encode(model, options)
    check_package(model)  # the files agree: the index is named after the model that embeds it
    preflight = run_preflight(client, alias=alias, dimension=model.dimension, embedding=options.embedding,
                              allow_dimension_change=options.allow_dimension_change,
                              allow_yellow=options.allow_yellow)
    variant_warnings: list[str] = []
    if preflight.embedding == "client" and opened:
        variant, why = client_variant(model)
        variant_warnings = [why] if why else []
        preflight.warnings.extend(variant_warnings)
        if variant != model.variant:
            model = for_client(model, variant)
            encode = open_encode(model, options)
    if model.boundaries is None:
        preflight.warnings.append(f"{model.run_dir or model.served_dir} has no boundaries.json: hits get no grade "
                                  "badges, `mros search --min-grade` refuses on this index, and hybrid search does "
                                  "not bound the dense leg")
    layout = layout_of(options, preflight, len(catalog.ids), model.dimension)
    if layout.warning:
        preflight.warnings.append(layout.warning)
    for warning in preflight.warnings:
        log(f"warning: {warning}")
    log(f"embedding: {preflight.embedding} ({preflight.embedding_reason})"
        + (f", encoder variant {model.variant}" if preflight.embedding == "client" else ""))
    log(f"index layout (when the index is created): {layout.reason}")
    target = deploy_target(model, catalog, options)
    check_given_vectors(options.vectors, model, target, preflight.embedding)
    if options.gate is not None:
        check_gate_judgments(options.gate, target.ids)  # before anything is written
    if options.dry_run:
        check_shrink(client, preflight.live_index, target, options)
        return _deploy_locked(client, model, target, options, preflight, None, started, log, encode)
    _existing_index(client, model, options, target, preflight.embedding)  # its refusals write nothing
    checked_shrink = check_shrink(client, preflight.live_index, target, options)
    lock = AliasLock(client, alias, command="deploy", log=log).acquire(options.lock_wait)
    try:
        kill_points.reached("lock-taken")
        # the alias may have moved while this process waited for the lock: read the cluster again
        preflight = run_preflight(client, alias=alias, dimension=model.dimension, embedding=options.embedding,
                                  allow_dimension_change=options.allow_dimension_change,
                                  allow_yellow=options.allow_yellow)
        preflight.warnings.extend(variant_warnings)
        if preflight.live_index != checked_shrink:
            check_shrink(client, preflight.live_index, target, options)
        return _deploy_locked(client, model, target, options, preflight, lock, started, log, encode)
    finally:
        lock.release()


@dataclass
class DeployTarget:
    """The index a (model, catalog) maps to and the documents it gets."""

    name: str
    ids: list[str]
    titles: list[str]
    texts: list[str]
    extra: dict[str, list[str]]
    text_fields: list[str]
    embedding_fields: list[str]
    catalog_sha: str


def deploy_target(model: ServedModel, catalog: Any, options: DeployOptions) -> DeployTarget:
    """The deploy's index (named by the model's and the catalog's content) and its documents."""
    text_fields = ["title", *[f for f in options.text_fields if f != "title"]]
    embedding_fields = list(options.embedding_fields or ("title",))
    texts = catalog.embedding_texts(embedding_fields)
    ids, titles = list(catalog.ids), list(catalog.titles)
    extra = {name: list(catalog.extra[name]) for name in text_fields if name != "title"}
    for name in extra:
        if name in ("product_id", "embedding_text", "embedding"):
            raise MrosError(f"text field {name!r} clashes with a field mros writes", "rename that column", exit_code=2)
    content = [t + "\x1d" + "\x1d".join(extra[n][i] for n in extra) for i, t in enumerate(texts)] if extra else texts
    catalog_sha = catalog_fingerprint(ids, content)
    variant = None if model.variant == model.packaged_variant else model.variant
    return DeployTarget(name=index_name(options.alias, model.sha256, catalog_sha, options.text_analyzer, variant),
                        ids=ids, titles=titles, texts=texts,
                        extra=extra, text_fields=text_fields, embedding_fields=embedding_fields,
                        catalog_sha=catalog_sha)


def check_given_vectors(vectors: VectorsFile | None, model: ServedModel, target: DeployTarget, embedding: str) -> None:
    """``--vectors``: the file is the run's model's, of this catalog's products, and the deploy embeds in client mode."""
    if vectors is None:
        return
    if embedding != "client":
        raise MrosError("--vectors gives the vectors of a client-mode deploy; this deploy embeds in engine mode",
                        "add --embedding client, or leave out --vectors (the cluster embeds)", exit_code=2)
    check_model(vectors, model.sha256, model.onnx_sha256, model.dimension)
    check_ids(vectors, target.ids)


def _existing_index(client: Any, model: ServedModel, options: DeployOptions, target: DeployTarget,
                    embedding: str) -> Manifest | None:
    """The manifest of the deploy's index when it exists, read only. Refuses an index of that name mros did
    not make or of another dimension, an incomplete one begun in the other ``embedding`` mode (its mapping
    and pipelines are that mode's: a ``semantic`` field takes no vectors, an ingest pipeline would overwrite
    mros's), and a block on it (a resume writes to it) or on an index ``--keep`` would delete. Run before the
    alias lock is taken, so such a refusal writes nothing at all, and again under it."""
    name, catalog_sha = target.name, target.catalog_sha
    exists = client.indices.exists(index=name)
    existing = read_index_manifest(client, name) if exists else None
    if interrupted_clone(client, name, existing):
        return None  # a clone killed before its manifest was written: discarded under the lock
    if exists and existing is None:
        raise MrosError(f"index {name} exists but was not created by mros", f"delete or rename it (`DELETE /{name}`)")
    if existing is not None and existing.updates and existing.catalog_sha256 != catalog_sha:
        raise MrosError(f"index {name} was built from this catalog but has since been updated in place to another "
                        f"one (catalog {existing.catalog_sha256[:12]}); this deploy would take it as it is",
                        f"deploy this catalog with {{in_place}}, or delete the index first (`DELETE /{name}`)",
                        parameters="in_place")
    if existing is not None and existing.dimension != model.dimension:
        raise MrosError(f"index {name} holds {existing.dimension}-d vectors, the model makes {model.dimension}-d",
                        f"delete it (`DELETE /{name}`) and rerun")
    if existing is not None and not existing.complete and existing.embedding != embedding:
        raise MrosError(f"index {name} is incomplete, begun by a deploy in {existing.embedding} mode; this deploy "
                        f"embeds in {embedding} mode and cannot finish it",
                        f"delete it (`DELETE /{name}`; no alias points at it) and rerun, or rerun with {{embedding}} "
                        f"{existing.embedding}", parameters="embedding")
    if existing is not None:
        refuse_blocked(client, name, "the deploy would write to it", BLOCKS_ON_WRITE)
    if options.keep is not None:
        for doomed in prune_candidates(client, options.alias, options.keep, name):
            refuse_blocked(client, doomed, "{keep} would delete it", BLOCKS_ON_ALIAS_MOVE, parameters="keep")
    return existing


def _deploy_locked(client: Any, model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight,
                   lock: AliasLock | None, started: float, log: Log,
                   encode: Callable[[list[str]], np.ndarray]) -> DeployResult:
    """The deploy's reads and writes, under the alias lock (``lock`` is None only for a dry run).

    The result is made before the first write and each step sets its ``stage``; when the cluster stops
    answering, :func:`_stopped` tells from it where the deploy stopped and what is done."""
    check_lock = lock.ensure_held if lock is not None else (lambda: None)
    plan = WritePlan(options.dry_run)
    if client.indices.exists(index=target.name) and interrupted_clone(client, target.name,
                                                                      read_index_manifest(client, target.name)):
        discard_interrupted_clone(client, plan, target.name, log)
    existing = _existing_index(client, model, options, target, preflight.embedding)
    hybrid = hybrid_settings(model, options.hybrid, preflight)
    result = DeployResult(index=target.name, alias=options.alias, embedding=preflight.embedding,
                          embedding_reason=preflight.embedding_reason, action="", documents=len(target.ids),
                          written=0, seconds=0.0, previous_index=preflight.live_index,
                          warnings=list(preflight.warnings), dry_run=options.dry_run)
    try:
        if existing is not None and existing.complete and client.count(index=target.name)["count"] == len(target.ids):
            _reuse_complete(client, plan, result, existing, preflight, hybrid, check_lock, log, options.gate)
        else:
            _build(client, model, target, options, preflight, plan, result, existing=existing, hybrid=hybrid,
                   log=log, encode=encode, check_lock=check_lock)
            _release_gate(client, plan, result, preflight, options.gate, check_lock, log)
            _point_alias(client, plan, result, preflight, check_lock)
        if not options.dry_run and result.action != "nothing to do":
            kill_points.reached("alias-moved")
        if options.keep is not None:
            result.stage = "prune"
            result.pruned = prune(client, plan, options.alias, options.keep, target.name)
    except RetriesExhausted as exc:
        raise _stopped(exc, result) from exc
    except KeyboardInterrupt:
        raise DeployInterrupted(result) from None
    result.stage = "done"
    result.plan = plan.entries
    if options.dry_run:
        result.action = f"would be {result.action}" if result.action in ("created", "resumed") else \
            f"would do: {result.action}"
    result.seconds = time.time() - started
    if model.run_dir is not None and result.manifest is not None and not options.dry_run:
        Manifest.model_validate(result.manifest).write(model.run_dir / "deploy" / f"{target.name}.json")
    return result


def _reuse_complete(client: Any, plan: WritePlan, result: DeployResult, existing: Manifest, preflight: Preflight,
                    hybrid: dict[str, Any], check_lock: Callable[[], None], log: Log,
                    gate: GateOptions | None) -> None:
    """The index is complete already (same run, same catalog): nothing is indexed again. Changed hybrid
    settings (a new tuning) update its manifest and, in engine mode, its search pipeline; an alias that
    points elsewhere moves to it, and the index records the one it replaces (for ``mros rollback``)."""
    updates: dict[str, Any] = {}
    actions: list[str] = []
    if existing.hybrid != hybrid:
        updates["hybrid"] = hybrid
        actions.append("hybrid settings updated")
        log(f"deploy: {result.index} is complete; its hybrid settings change (no re-index): "
            f"{json.dumps(existing.hybrid, sort_keys=True)} -> {json.dumps(hybrid, sort_keys=True)}")
        if existing.search_pipeline:
            _put_search_pipeline(client, plan, existing.search_pipeline, hybrid, result.index)
    if preflight.live_index != result.index:
        updates["previous_index"] = preflight.live_index
        actions.append("alias moved to an existing complete index")
    manifest = existing.model_copy(update=updates) if updates else existing
    if updates:
        result.stage = "update manifest"
        write_manifest(client, plan, result.index, manifest, check_lock)
    result.model_id = existing.model_id
    result.manifest = manifest.to_meta()
    if preflight.live_index != result.index:
        _release_gate(client, plan, result, preflight, gate, check_lock, log)
        _point_alias(client, plan, result, preflight, check_lock)
    result.action = "; ".join(actions) or "nothing to do"


def _release_gate(client: Any, plan: WritePlan, result: DeployResult, preflight: Preflight, gate: GateOptions | None,
                  check_lock: Callable[[], None], log: Log) -> None:
    """``--gate``: the complete new index measured against the live one before the alias moves; the record
    goes into the new index's manifest either way, and a refusal stops the deploy with the alias unmoved."""
    if gate is None:
        return
    if plan.dry_run:
        plan.note("GATE", f"/{result.index}", summary=f"the release gate measures {result.index} against the live "
                  f"index on {len(gate.queries)} judged queries ({gate.mode}) before the alias moves")
        return
    result.stage = "release gate"
    live = preflight.live_index if preflight.live_index not in (None, result.index) else None
    live_manifest = read_index_manifest(client, live) if live is not None else None
    record = run_gate(client, (result.index, Manifest.model_validate(result.manifest)),
                      (live, live_manifest) if live is not None and live_manifest is not None else None, gate)
    log(describe_gate(record))
    manifest = Manifest.model_validate({**(result.manifest or {}), "gate": record})
    write_manifest(client, plan, result.index, manifest, check_lock)
    result.manifest, result.gate = manifest.to_meta(), record
    if not record["passed"]:
        raise GateRefused(record, str(live))


def _put_search_pipeline(client: Any, plan: WritePlan, name: str, hybrid: dict[str, Any], index: str) -> None:
    from mr_opensearch.search.fusion import HybridSettings, search_pipeline_body

    body = search_pipeline_body(HybridSettings(**hybrid), f"mros: hybrid search of {index}")
    plan.write("PUT", f"/_search/pipeline/{name}", body,
               lambda: client.transport.perform_request("PUT", f"/_search/pipeline/{name}", body=body))


def _point_alias(client: Any, plan: WritePlan, result: DeployResult, preflight: Preflight,
                 check_lock: Callable[[], None]) -> None:
    """The alias moved onto the deploy's index, the lock checked just before."""
    result.stage = "move alias"
    check_lock()
    move_alias(client, plan, result.alias, result.index, preflight.alias_indices)


def check_shrink(client: Any, live: str | None, target: DeployTarget, options: DeployOptions) -> str | None:
    """Refuse a catalog that leaves out more than ``options.max_shrink`` of the live index's products
    (unless ``options.allow_shrink``); returns the live index checked. Reads only."""
    if live is None or live == target.name or options.allow_shrink:
        return live
    present = ids_in_index(client, live)
    dropped = len(present - set(target.ids))
    if present and dropped > options.max_shrink * len(present):
        raise MrosError(f"the catalog leaves out {dropped} of the {len(present)} products of the live index {live} "
                        f"({dropped / len(present):.0%}, more than the {options.max_shrink:.0%} allowed); it holds "
                        f"{len(target.ids)} products",
                        "check the catalog file (a truncated export?); if those products really left the shop, "
                        "deploy again with {allow_shrink}", parameters="allow_shrink")
    return live


@dataclass
class _Serving:
    """Where the index's vectors come from: ML Commons and its two pipelines (engine mode), or the served
    model's copy under ``$MROS_HOME`` (client mode; none in a dry run)."""

    model_id: str | None = None
    ingest_pipeline: str | None = None
    search_pipeline: str | None = None
    model_dir: str | None = None
    vector_layout: VectorLayout = "knn_vector"


def _build(client: Any, model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight,
           plan: WritePlan, result: DeployResult, *, existing: Manifest | None, hybrid: dict[str, Any], log: Log,
           encode: Callable[[list[str]], np.ndarray], check_lock: Callable[[], None]) -> None:
    """The index of ``target`` made complete: created with its mapping (or, when ``existing``, resumed),
    filled, and marked complete. The alias is not touched."""
    serving = _serving_side(client, model, target, options, preflight, plan, result, hybrid, log, existing=existing,
                            encode=encode)
    manifest = _manifest(model, target, options, preflight, serving, hybrid)
    body = _mapping(model, target, options, preflight, serving, manifest)
    result.model_id = serving.model_id
    clock = PhaseClock(options.phase_counters)
    if existing is not None and existing.cloned_from:
        result.action = "resumed"
        _finish_clone(client, model, target, options, preflight, plan, result, manifest.model_copy(
            update={"cloned_from": existing.cloned_from}), clock, encode, check_lock, log)
        return
    if existing is None:
        source = _clone_source(client, plan, manifest, body, preflight, options, check_lock, log)
        if source is not None:
            cloned = manifest.model_copy(update={"cloned_from": source.index})
            result.stage, result.action = "clone the live index", "created"
            result.shards, result.replicas = source.shards, int(body["settings"]["index"]["number_of_replicas"])
            with clock.measure("clone"):
                clone_live(client, plan, source.index, source.manifest, target.name, body, cloned, check_lock)
            _finish_clone(client, model, target, options, preflight, plan, result, cloned, clock, encode, check_lock,
                          log)
            return
        _create(client, plan, result, body, manifest)
    else:
        result.action = "resumed"
    docs = list(target_documents(target))
    if existing is not None:
        result.stage = "resume"
        every = docs
        docs = _missing_documents(client, plan, target.name, docs, result, log)
        if preflight.embedding == "engine" and not plan.dry_run:  # the vectors already in, checked before more
            sent = {d["product_id"] for d in docs}
            _check_stored(client, model, plan, result, [d for d in every if d["product_id"] not in sent],
                          manifest.vector_path, encode, log)
    said = options.copy == "clone" and existing is None  # _clone_source said already why the deploy is full
    live = reuse_source(client, manifest, preflight.live_index, full=options.full,
                        log=(lambda _line: None) if said else log) if docs else None
    if live is not None:
        with clock.measure("copy"):
            docs = _copy_live(client, plan, result, live.index, docs, target, options, preflight, log)
    with clock.measure("embed and index"):
        _bulk_load(client, model, target.name, docs, options, preflight, plan, result, encode,
                   manifest.vector_path, log)
    result.written = result.copied + (0 if plan.dry_run else len(docs))
    with clock.measure("refresh and complete"):
        _mark_complete(client, plan, result, len(target.ids), manifest, check_lock)
    result.phase_seconds, result.phase_counters = clock.seconds, clock.spent


@dataclass(frozen=True)
class _CloneSource:
    index: str
    manifest: Manifest
    shards: int


def _clone_source(client: Any, plan: WritePlan, manifest: Manifest, body: dict[str, Any], preflight: Preflight,
                  options: DeployOptions, check_lock: Callable[[], None], log: Log) -> _CloneSource | None:
    """The live index the new one may start as a clone of (``--copy clone``, :mod:`cloned_index`), or None: a full
    deploy, another copy method, a dry run, or a live index whose layout differs (said in one line)."""
    if options.copy != "clone" or preflight.live_index is None:
        return None
    live = reuse_source(client, manifest, preflight.live_index, full=options.full, log=log, clone=True)
    if live is None:
        return None
    live = clear_left_block(client, plan, preflight.live_index, live, check_lock, log)
    reason = why_not_clone(client, preflight.live_index, body, live)
    if reason and manifest.vector_layout == "semantic":  # a copy by reading would be embedded again: full
        log(f"deploy: a full deploy: the live index {preflight.live_index} cannot be cloned ({reason}), and a "
            "semantic field's processor embeds every document written to a new index")
        return None
    if reason:
        log(f"deploy: the live index {preflight.live_index} is copied by reading, not cloned: {reason}")
        return None
    return _CloneSource(preflight.live_index, live, int(body["settings"]["index"]["number_of_shards"]))


def _finish_clone(client: Any, model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight,
                  plan: WritePlan, result: DeployResult, manifest: Manifest, clock: PhaseClock,
                  encode: Callable[[list[str]], np.ndarray], check_lock: Callable[[], None], log: Log) -> None:
    """A clone of the live index made the new catalog's index: the difference applied (as ``--in-place`` does),
    then refreshed, counted and marked complete."""
    name = target.name
    result.incremental_from = manifest.cloned_from
    if plan.dry_run:
        plan.note("POST", "/_bulk", summary=f"the catalog's difference from {manifest.cloned_from} applied to the "
                  "clone: new and edited products embedded and upserted, removed ones deleted")
        _mark_complete(client, plan, result, len(target.ids), manifest, check_lock)
        return
    with clock.measure("compare"):
        result.stage = "compare with the clone"
        plan.write("POST", f"/{name}/_refresh", None, lambda: client.indices.refresh(index=name))
        difference = compare(client, name, list(target_documents(target)))
    result.copied = difference.unchanged + len(difference.fields_only)
    result.fields_updated, result.removed = len(difference.fields_only), len(difference.delete)
    log(f"deploy: incremental from {manifest.cloned_from} (cloned): {difference.unchanged} documents kept, "
        f"{len(difference.embed)} new or edited to embed, {len(difference.fields_only)} with other fields changed, "
        f"{len(difference.delete)} removed")
    with clock.measure("embed and index"):
        result.stage = "index documents"
        total = len(difference.embed) + len(difference.fields_only) + len(difference.delete)
        if total:
            actions = difference_actions(client, name, difference, preflight.embedding,
                                         embedded_actions(name, difference, encode, model, options))
            bulk_index(client, actions, chunk_size=options.batch_size, total=total, progress=options.progress,
                       desc=f"updating {name}", result=result, middle_point="copy-middle")
        result.embedded, result.from_vectors_file = len(difference.embed), difference.from_file
        kill_points.reached("bulk-done")
    result.written = total
    with clock.measure("refresh and complete"):
        _mark_complete(client, plan, result, len(target.ids), manifest, check_lock)
    result.phase_seconds, result.phase_counters = clock.seconds, clock.spent


COPY_CONCURRENCY = 2
"""Bulk requests in flight while an incremental deploy copies the live vectors: the node's HNSW inserts, not
mros, bound the copy, and a shard indexes two requests on two threads."""


def _copy_live(client: Any, plan: WritePlan, result: DeployResult, live: str, docs: list[dict], target: DeployTarget,
               options: DeployOptions, preflight: Preflight, log: Log) -> list[dict]:
    """An incremental deploy (:mod:`incremental`): the documents whose text the live index holds written
    with its vectors; returns the new and edited documents, left to embed."""
    result.stage = "copy unchanged documents"
    result.incremental_from = live
    if plan.dry_run:
        plan.note("COPY", f"/{live}", summary=f"read {live}; documents whose embedding_text is unchanged keep their "
                  f"vector ({options.copy}), the new and edited ones are embedded")
        return docs
    if options.copy == "reindex":
        same, to_embed, result.removed = unchanged_ids(client, live, docs, target.ids)
        result.copied = reindex_documents(client, plan, live, target.name, same)
    else:
        copy = LiveCopy(client=client, live=live, index=target.name, docs=docs, catalog_ids=target.ids,
                        engine=preflight.embedding == "engine")
        bulk_index(client, copy.actions(), chunk_size=options.batch_size, total=len(docs), progress=options.progress,
                   desc=f"copying from {live}", middle_point="copy-middle", concurrency=COPY_CONCURRENCY)
        result.copied, result.removed, to_embed = copy.copied, copy.removed, copy.to_embed
    result.written = result.copied
    kill_points.reached("copied")
    log(f"deploy: incremental from {live}: {result.copied} documents keep their vector, {len(to_embed)} new or "
        f"edited are embedded, {result.removed} removed")
    return to_embed


def _serving_side(client: Any, model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight,
                  plan: WritePlan, result: DeployResult, hybrid: dict[str, Any], log: Log, *,
                  existing: Manifest | None, encode: Callable[[list[str]], np.ndarray]) -> _Serving:
    """Engine mode: the ML Commons wiring (:func:`_engine_side`); client mode: the served model copied to
    ``$MROS_HOME/models/<sha>`` (only planned in a dry run)."""
    if preflight.embedding == "engine":
        return _engine_side(client, model, options, preflight, plan, result, target, hybrid, log, existing=existing,
                            encode=encode)
    if plan.dry_run:
        plan.note("COPY", f"$MROS_HOME/models/{model.served_key}",
                  summary="the served ONNX model and tokenizer, for search and eval")
        return _Serving()
    return _Serving(model_dir=str(store_served_copy(model)))


def _engine_side(client: Any, model: ServedModel, options: DeployOptions, preflight: Preflight, plan: WritePlan,
                 result: DeployResult, target: DeployTarget, hybrid: dict[str, Any], log: Log, *,
                 existing: Manifest | None, encode: Callable[[list[str]], np.ndarray]) -> _Serving:
    """Engine mode: the model registered (or found by hash; on 3.1+ with ``additional_config.space_type``) and
    deployed, the predict self-check (:func:`engine_check.check_predict`, before anything is written for the
    index), the vector layout (:func:`_vector_layout`), and the pipelines: a ``text_embedding`` ingest
    pipeline for the ``knn_vector`` layout only, the hybrid search pipeline always."""
    from mr_opensearch.deploy import ml_commons
    from mr_opensearch.deploy.ingest_pipeline import ingest_pipeline_body
    name = target.name
    if model.zip_path is None:
        raise MrosError("engine mode needs the run's ML Commons package (RUN/onnx/ml-commons.zip)",
                        "re-export the run with `mros export --run RUN`, or deploy with {embedding} client",
                        parameters="embedding")
    # a real deploy names the alias's model group first, so ensure_model can delete this group's dead
    # uploads (sent, not planned); a dry run plans the group in ensure_model, when a model is to be registered
    group = None if plan.dry_run else ml_commons.ensure_model_group(
        client, f"mros-{options.alias}", f"mros models served behind the alias {options.alias}")
    space_type = model.space_type if preflight.supports_semantic_field else None
    model_id = ml_commons.ensure_model(client, model.zip_path.parent, name=f"mros-{options.alias}",
                                       model_group_id=group, plan=plan, space_type=space_type)
    log(f"engine: model {model_id or '(to be registered)'} deployed in ML Commons")
    result.stage = "engine self-check"
    worst = engine_check.check_predict(client, model, model_id, target.texts, encode, plan)
    if worst is not None:
        log(f"engine: self-check passed: ML Commons embeds the probe texts as the ONNX model does "
            f"(least cosine {worst:.5f})")
    layout = _vector_layout(client, model, model_id, preflight, plan, result, existing, log)
    search = f"{name}-hybrid"
    ingest = None
    if layout == "knn_vector":
        ingest = f"{name}-ingest"
        ingest_body = ingest_pipeline_body(model_id or "<model id>", source_field="embedding_text",
                                           target_field="embedding", description=f"mros: embeds {name}")
        plan.write("PUT", f"/_ingest/pipeline/{ingest}", ingest_body,
                   lambda: client.ingest.put_pipeline(id=ingest, body=ingest_body))
    _put_search_pipeline(client, plan, search, hybrid, name)
    return _Serving(model_id=model_id, ingest_pipeline=ingest, search_pipeline=search, vector_layout=layout)


def _vector_layout(client: Any, model: ServedModel, model_id: str, preflight: Preflight, plan: WritePlan,
                   result: DeployResult, existing: Manifest | None, log: Log) -> VectorLayout:
    """Where an engine-mode index keeps its vectors (:class:`~mr_opensearch.search.manifest.Manifest`
    ``vector_layout``): an index being resumed keeps its own; on OpenSearch 3.1+ a ``semantic`` field, when
    the model carries ``additional_config.space_type`` (registered so by this deploy, or found by its hash
    with it: a model registered before lacks it, and the index then falls back to ``knn_vector`` with a
    warning); before 3.1 ``knn_vector``."""
    from mr_opensearch.deploy import ml_commons

    if existing is not None:
        return existing.vector_layout
    if not preflight.supports_semantic_field:
        return "knn_vector"
    registered = model.space_type if plan.dry_run and model_id == "<model_id>" else \
        ml_commons.registered_space_type(client, model_id)
    if registered != model.space_type:
        warning = (f"model {model_id} was registered without model_config.additional_config.space_type "
                   f"{model.space_type} (found {registered or 'none'}), which a semantic field needs: the index "
                   "keeps its vectors in a knn_vector field filled by an ingest pipeline, and queries name the "
                   "model id")
        result.warnings.append(warning)
        log(f"warning: {warning}")
        return "knn_vector"
    if not preflight.supports_dense_embedding_config:
        warning = (f"OpenSearch {preflight.version} has no dense_embedding_config for semantic fields (3.2+): the "
                   "index's vectors get k-NN's default method and engine, not lucene HNSW with hnsw_m and "
                   "ef_construction")
        result.warnings.append(warning)
        log(f"warning: {warning}")
    return "semantic"


def _manifest(model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight, serving: _Serving,
              hybrid: dict[str, Any]) -> Manifest:
    """The index's manifest (its ``_meta``), not complete yet."""
    previous = preflight.live_index if preflight.live_index != target.name else None
    return Manifest(index=target.name, alias=options.alias, run=str(model.run_dir) if model.run_dir else None,
                    model_sha256=model.sha256, onnx_sha256=model.onnx_sha256, encoder_variant=model.variant,
                    previous_index=previous,
                    catalog_sha256=target.catalog_sha, catalog=options.catalog_path,
                    embedding=preflight.embedding, model_id=serving.model_id,  # type: ignore[arg-type]
                    model_dir=serving.model_dir, dimension=model.dimension, space_type=model.space_type,
                    pooling_mode=model.pooling_mode, normalize_result=model.normalize_result,
                    text_fields=target.text_fields, text_analyzer=options.text_analyzer,
                    embedding_fields=target.embedding_fields, ingest_pipeline=serving.ingest_pipeline,
                    search_pipeline=serving.search_pipeline, boundaries=model.boundaries, hybrid=hybrid,
                    documents=len(target.ids), vector_layout=serving.vector_layout)


def _mapping(model: ServedModel, target: DeployTarget, options: DeployOptions, preflight: Preflight, serving: _Serving,
             manifest: Manifest) -> dict[str, Any]:
    """The body that creates the index: ``mappings/product-index`` rendered (``product-index-semantic`` for the
    ``semantic`` layout, without ``dense_embedding_config`` before OpenSearch 3.2), plus the extra text fields."""
    layout = layout_of(options, preflight, len(target.ids), model.dimension)
    if serving.vector_layout == "semantic":
        body = render("mappings", "product-index-semantic", model_id=serving.model_id or "<model id>",
                      ef_search=options.ef_search, shards=layout.shards, replicas=layout.replicas,
                      refresh_interval="-1", search_pipeline=serving.search_pipeline or "_none",
                      hnsw_m=options.hnsw_m, ef_construction=options.ef_construction,
                      text_analyzer=options.text_analyzer, manifest=manifest.to_meta())
        if not preflight.supports_dense_embedding_config:  # 3.1 knows no such parameter
            del body["mappings"]["properties"][SEMANTIC_FIELD]["dense_embedding_config"]
    else:
        body = render("mappings", "product-index", dimension=model.dimension, ef_search=options.ef_search,
                      shards=layout.shards, replicas=layout.replicas, refresh_interval="-1",
                      ingest_pipeline=serving.ingest_pipeline or "_none",
                      search_pipeline=serving.search_pipeline or "_none", space_type=model.space_type,
                      hnsw_m=options.hnsw_m, ef_construction=options.ef_construction,
                      text_analyzer=options.text_analyzer, manifest=manifest.to_meta())
    for field_name in target.extra:
        body["mappings"]["properties"][field_name] = text_field_mapping(options.text_analyzer)
    return body


def _create(client: Any, plan: WritePlan, result: DeployResult, body: dict[str, Any], manifest: Manifest) -> None:
    """``PUT /<index>`` with ``body`` (:func:`_create_index`)."""
    result.stage = "create index"
    name = result.index
    index_settings = body["settings"]["index"]
    result.shards, result.replicas = int(index_settings["number_of_shards"]), int(index_settings["number_of_replicas"])
    plan.write("PUT", f"/{name}", body, lambda: _create_index(client, name, body, manifest))
    result.action = "created"
    if not plan.dry_run:
        kill_points.reached("index-created")


def _create_index(client: Any, name: str, body: dict[str, Any], manifest: Manifest) -> None:
    """``PUT /name``; when a resent PUT finds the index, it is accepted if it carries exactly ``manifest``
    (the first PUT was carried out and its answer lost), refused otherwise."""
    from opensearchpy.exceptions import RequestError

    try:
        client.indices.create(index=name, body=body)
    except RequestError as exc:
        if exc.error != "resource_already_exists_exception":
            raise
        found = read_index_manifest(client, name)
        if found is None or found.to_meta() != manifest.to_meta():
            raise MrosError(f"index {name} appeared while this deploy was creating it",
                            "another deploy of the same run and catalog may be running; wait for it, then rerun") from None


def target_documents(target: DeployTarget) -> Iterator[dict]:
    for i, pid in enumerate(target.ids):
        doc = {"product_id": pid, "title": target.titles[i], "embedding_text": target.texts[i]}
        for name, values in target.extra.items():
            doc[name] = values[i]
        yield doc


def _missing_documents(client: Any, plan: WritePlan, name: str, docs: list[dict], result: DeployResult,
                       log: Log) -> list[dict]:
    """Resume an incomplete index: the documents of ``docs`` it does not hold yet.

    Every document an earlier deploy got acknowledged is in the index (durable in the translog even
    before a refresh); the refresh makes them visible to the read. The index is per (model, catalog)
    content, so a document present is the right one and is not sent again."""
    plan.write("POST", f"/{name}/_refresh", None, lambda: client.indices.refresh(index=name))
    present = ids_in_index(client, name)
    missing = [d for d in docs if d["product_id"] not in present]
    result.already_present = len(docs) - len(missing)
    log(f"deploy: resuming the incomplete index {name} left by an earlier deploy: {result.already_present} of "
        f"{len(docs)} documents already in, {len(missing)} to send")
    return missing


def _bulk_load(client: Any, model: ServedModel, name: str, docs: list[dict], options: DeployOptions,
               preflight: Preflight, plan: WritePlan, result: DeployResult,
               encode: Callable[[list[str]], np.ndarray], vector_path: str = "embedding", log: Log = print) -> None:
    """``docs`` bulk-indexed into ``name``: as they are in engine mode (the ingest pipeline or the semantic
    field embeds them; the stored vectors of the first bulk request's documents, at ``vector_path``, are
    checked against ``encode`` before the second is sent: :func:`_check_stored`), with the vectors of
    ``encode`` in client mode; one summary entry in a dry run."""
    engine = preflight.embedding == "engine"
    result.stage = "index documents"
    if plan.dry_run:
        batches = (len(docs) + options.batch_size - 1) // options.batch_size
        plan.note("POST", "/_bulk", summary=f"{len(docs)} documents in {batches} bulk requests of up to "
                                            f"{options.batch_size}" + ("" if engine else ", vectors embedded by mros"))
        if engine:
            engine_check.plan_stored_check(plan, name, vector_path)
    elif not docs:
        pass  # resumed: every document was already in
    elif engine:
        result.embedded = len(docs)
        actions = ({"_index": name, "_id": d["product_id"], "_source": d} for d in docs)
        by_id = {d["product_id"]: d for d in docs}

        def first_request(ids: list[str]) -> None:
            _check_stored(client, model, plan, result, [by_id[i] for i in ids if i in by_id], vector_path, encode,
                          log)
            result.stage = "index documents"

        result.written = bulk_index(client, actions, chunk_size=options.batch_size, total=len(docs),
                               progress=options.progress, desc=f"indexing {name}", result=result,
                               after_first=first_request)
    else:
        timer = {"encode": 0.0}
        given, to_embed = given_vectors(docs, options.vectors)
        result.from_vectors_file, result.embedded = len(given), len(to_embed)

        actions = vector_actions(name, given, to_embed, encode, model, options, timer)
        result.written = bulk_index(client, actions, chunk_size=options.batch_size, total=len(docs),
                               progress=options.progress, desc=f"indexing {name}", result=result)
        result.encode_seconds = timer["encode"]
    if not plan.dry_run:
        kill_points.reached("bulk-done")


def vector_actions(index: str, given: list[tuple[dict, np.ndarray]], to_embed: list[dict],
                   encode: Callable[[list[str]], np.ndarray], model: ServedModel, options: DeployOptions,
                   timer: dict[str, float]) -> Iterator[dict]:
    """Client mode's bulk actions into ``index``: the documents of ``given`` with their vectors (from
    ``--vectors``), then ``to_embed`` embedded by ``encode`` (:func:`encoded_batches`), each vector checked
    for the model's dimension; ``timer["encode"]`` adds up the encoder's time."""
    for start in range(0, len(given), options.batch_size):
        part = given[start : start + options.batch_size]
        vectors = json_vectors(np.stack([vector for _, vector in part]))
        for (doc, _), vec in zip(part, vectors, strict=True):
            yield {"_index": index, "_id": doc["product_id"], "_source": {**doc, KNN_VECTOR_FIELD: vec}}
    for chunk, vectors in encoded_batches(to_embed, encode, options.batch_size, timer, encode_workers(options)):
        if vectors.ndim != 2 or vectors.shape[1] != model.dimension:
            raise MrosError(f"the encoder returned vectors of shape {vectors.shape}, the index holds "
                            f"{model.dimension}-d", "re-export the run: its ml-commons.json and ONNX disagree")
        for doc, vec in zip(chunk, json_vectors(vectors), strict=True):
            yield {"_index": index, "_id": doc["product_id"], "_source": {**doc, KNN_VECTOR_FIELD: vec}}


def embedded_actions(index: str, difference: Difference, encode: Callable[[list[str]], np.ndarray] | None,
                     model: ServedModel, options: DeployOptions) -> Callable[[list[dict]], Iterator[dict]]:
    """Client mode's actions for the products of ``difference`` to embed (``difference.embed``): those
    ``--vectors`` holds the vector of written with it (counted in ``difference.from_file`` and taken out of
    ``difference.embed``), the rest embedded by ``encode`` (:func:`vector_actions`)."""

    def actions(docs: list[dict]) -> Iterator[dict]:
        assert encode is not None
        given, to_embed = given_vectors(docs, options.vectors)
        difference.embed, difference.from_file = to_embed, len(given)
        yield from vector_actions(index, given, to_embed, encode, model, options, {"encode": 0.0})

    return actions


def given_vectors(docs: list[dict], vectors: VectorsFile | None) -> tuple[list[tuple[dict, np.ndarray]], list[dict]]:
    """``docs`` split into those ``vectors`` holds the vector of (of their current ``embedding_text``), with it,
    and those left to embed."""
    if vectors is None:
        return [], docs
    given, rest = [], []
    for doc in docs:
        vector = vectors.vector_for(doc["product_id"], doc["embedding_text"])
        if vector is None:
            rest.append(doc)
        else:
            given.append((doc, vector))
    return given, rest


def _check_stored(client: Any, model: ServedModel, plan: WritePlan, result: DeployResult, docs: list[dict],
                  vector_path: str, encode: Callable[[list[str]], np.ndarray], log: Log) -> None:
    """The engine self-check of documents in the index (:func:`engine_check.check_stored_vectors`). On a
    mismatch the index is deleted before the error is raised: it is incomplete, no alias points at it, and
    its vectors are wrong, so neither a rerun nor ``--embedding client`` may resume it."""
    result.stage = "engine self-check"
    try:
        worst = engine_check.check_stored_vectors(client, model, result.index, docs, vector_path, encode)
    except engine_check.EngineMismatch as exc:
        result.stage = "discard index"
        name = result.index
        plan.write("DELETE", f"/{name}", None, lambda: client.indices.delete(index=name, ignore_unavailable=True),
                   summary="the engine self-check failed: the incomplete index's vectors disagree with the model")
        raise exc.followed_by(f"The index {name} was deleted (no alias pointed at it; the alias did not "
                              "move)") from None
    if worst is not None:
        log(f"engine: self-check passed: the stored vectors of {min(len(docs), engine_check.STORED_PROBES)} "
            f"documents agree with the ONNX model (least cosine {worst:.5f})")


def _mark_complete(client: Any, plan: WritePlan, result: DeployResult, documents: int, manifest: Manifest,
                   check_lock: Callable[[], None]) -> None:
    """Refresh, check the count, turn refreshes on, then ``_meta.complete = true`` (under the lock)."""
    name = result.index
    result.stage = "refresh"
    plan.write("POST", f"/{name}/_refresh", None, lambda: client.indices.refresh(index=name))
    result.stage = "count"
    if not plan.dry_run:
        count = client.count(index=name)["count"]
        if count != documents:
            raise MrosError(f"{name} holds {count} documents, expected {documents}",
                            "rerun the same deploy to finish it; the alias was not moved")
    result.stage = "settings"
    settings_body = {"index": {"refresh_interval": "1s"}}
    plan.write("PUT", f"/{name}/_settings", settings_body,
               lambda: client.indices.put_settings(index=name, body=settings_body))
    manifest.complete = True
    manifest.completed_at = datetime.now(UTC).isoformat(timespec="seconds")
    result.stage = "mark complete"
    write_manifest(client, plan, name, manifest, check_lock)
    if not plan.dry_run:
        kill_points.reached("marked-complete")
    result.manifest = manifest.to_meta()
