"""Checks made before a deploy writes anything: each failure is a refusal that says what to do.

* the cluster answers, runs OpenSearch 3.0+ (``min_max`` ``lower_bounds``; a hybrid request's
  top-level ``min_score`` on the combined score needs 3.5) and has the k-NN plugin;
* cluster health is not red, no cluster-level read-only block is set, and no data node is over its
  flood-stage disk watermark (:mod:`mr_opensearch.cluster.disk_watermark`);
* yellow health is judged by why it is yellow (:func:`check_yellow`): replicas that have no node to go to
  (``number_of_replicas`` >= data nodes, e.g. any replica on a single node) are normal and only warned
  about; replicas that could be placed but are not - a node left the cluster, or copies are still
  recovering - mean the cluster is short of a node or of copies: the deploy waits up to
  :data:`RECOVERY_WAIT_S` for green, then refuses (``allow_yellow`` deploys anyway: the new index is made
  with fewer copies than asked for until the cluster heals);
* the alias, when it exists, points only at indices mros created (their ``_meta`` manifest), and
  the live index has no block that stops the alias from moving off it (``index.blocks.read_only``,
  ``read_only_allow_delete``, ``metadata``); a write block alone (``index.blocks.write``) is fine:
  the deploy writes to a new index and an alias change is a metadata write;
* the model's dimension matches the live index behind the alias (unless a change is allowed);
* the engine embedding mode has ML Commons and neural-search; ``auto`` picks it only then. The
  cluster's version also says how engine mode lays the vectors out: 3.1+ has neural-search's
  ``semantic`` field (:attr:`Preflight.supports_semantic_field`; ``dense_embedding_config`` from 3.2),
  3.0 a ``knn_vector`` filled by an ingest pipeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mr_opensearch.cluster.disk_watermark import nodes_over_flood_stage
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.deploy.ml_commons import ENGINE_PLUGINS
from mr_opensearch.search.manifest import Manifest, read_index_manifest

_FORBIDDEN = set('\\/*?"<>| ,#:')


def check_index_name(name: str, what: str = "alias") -> str:
    """OpenSearch's rules for index and alias names (lowercase, no ``\\/*?"<>| ,#:``, no leading ``-_+``)."""
    problems = []
    if not name:
        problems.append("it is empty")
    if name != name.lower():
        problems.append("it has upper-case letters")
    if _FORBIDDEN & set(name):
        problems.append(f"it contains {''.join(sorted(_FORBIDDEN & set(name)))!r}")
    if name[:1] in ("-", "_", "+"):
        problems.append("it starts with '-', '_' or '+'")
    if name in (".", ".."):
        problems.append("it is '.' or '..'")
    if len(name.encode()) > 200:
        problems.append("it is longer than 200 bytes (mros appends a hash suffix)")
    if problems:
        raise UsageError(f"invalid {what} name {name!r}: {'; '.join(problems)}",
                         "use lower-case letters, digits, '-' and '.' (e.g. products)", parameters=what)
    return name


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    if not match:
        raise MrosError(f"cannot read the cluster version {text!r}", "point {url} at an OpenSearch cluster",
                        parameters="url")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


MIN_VERSION = (3, 0, 0)
SEMANTIC_FIELD_VERSION = (3, 1, 0)
"""neural-search's ``semantic`` field works from 3.1 (3.0 has only its mapper, behind a feature flag), and
ML Commons' ``model_config.additional_config`` (the space type the field needs) exists from 3.1."""
DENSE_EMBEDDING_CONFIG_VERSION = (3, 2, 0)
"""A ``semantic`` field takes ``dense_embedding_config`` (knn_vector options but dimension, data type and
space type) from 3.2; on 3.1 its knn_vector gets k-NN's default method and engine."""


def require_version(info: dict[str, Any]) -> str:
    """The OpenSearch version of a root-endpoint answer (``GET /``); refuses another distribution
    (``version.distribution`` is not ``opensearch``, e.g. Elasticsearch) or a release before 3.0
    (``min_max`` ``lower_bounds``)."""
    version = str(info.get("version", {}).get("number", ""))
    distribution = info.get("version", {}).get("distribution")
    if distribution != "opensearch":  # every OpenSearch release names itself; Elasticsearch does not
        raise MrosError(f"the cluster is not OpenSearch (it reports version {version or '?'}, distribution "
                        f"{distribution or 'none'})", "point {url} at an OpenSearch 3.x cluster", parameters="url")
    if parse_version(version) < MIN_VERSION:
        raise MrosError(f"the cluster runs OpenSearch {version}; mros needs 3.0+ (hybrid lower_bounds)",
                        "upgrade the cluster, or deploy to a 3.x cluster")
    return version


BLOCKS_ON_ALIAS_MOVE = ("index.blocks.read_only", "index.blocks.read_only_allow_delete", "index.blocks.metadata")
"""Index blocks that refuse metadata writes, so an alias cannot be added to or removed from the index."""
BLOCKS_ON_WRITE = ("index.blocks.write", *BLOCKS_ON_ALIAS_MOVE)
"""Index blocks that refuse documents (and, but for ``write``, metadata changes)."""


def index_blocks(client: Any, index: str, names: tuple[str, ...] = BLOCKS_ON_WRITE) -> list[str]:
    """The blocks among ``names`` set to true on ``index``."""
    found = client.indices.get_settings(index=index, name="index.blocks.*", flat_settings=True)
    settings = (found.get(index) or next(iter(found.values()), {})).get("settings", {})
    return [name for name in names if str(settings.get(name, "false")).lower() == "true"]


def refuse_blocked(client: Any, index: str, why: str, names: tuple[str, ...] = BLOCKS_ON_WRITE, *,
                   parameters: str | Sequence[str] = ()) -> None:
    """Refuse when ``index`` carries any block in ``names``; ``why`` says what the deploy must do there (naming
    ``parameters`` as :class:`MrosError` does)."""
    blocks = index_blocks(client, index, names)
    if not blocks:
        return
    flood = "index.blocks.read_only_allow_delete" in blocks
    cause = " (OpenSearch sets it over the flood-stage disk watermark)" if flood else ""
    clear = json.dumps({blocks[0]: None})
    raise MrosError(f"index {index} is blocked: {', '.join(blocks)} is set{cause}; {why}",
                    f"free disk space first if the disk filled up; then clear the block (`PUT /{index}/_settings "
                    f"{clear}`) and rerun", parameters=parameters)


@dataclass
class Preflight:
    """What the cluster is and what a deploy may do there."""

    version: str
    plugins: set[str]
    health: str
    data_nodes: int
    embedding: Literal["client", "engine"]
    embedding_reason: str
    live_index: str | None = None
    live_manifest: Manifest | None = None
    alias_indices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def supports_hybrid_min_score(self) -> bool:
        return parse_version(self.version) >= (3, 5, 0)

    @property
    def supports_semantic_field(self) -> bool:
        """neural-search's ``semantic`` field (ingest and query) and ML Commons' ``additional_config``: 3.1+."""
        return parse_version(self.version) >= SEMANTIC_FIELD_VERSION

    @property
    def supports_dense_embedding_config(self) -> bool:
        """A ``semantic`` field's ``dense_embedding_config`` (the knn_vector's method, engine included): 3.2+."""
        return parse_version(self.version) >= DENSE_EMBEDDING_CONFIG_VERSION


@dataclass
class YellowCause:
    """Why a cluster is yellow: replicas no node can hold, and copies that are missing or still recovering."""

    unplaceable: dict[str, int] = field(default_factory=dict)
    """Index -> its unassigned replicas that have no node to go to (replicas >= data nodes)."""
    missing: dict[str, int] = field(default_factory=dict)
    """Index -> its replicas that could be placed but are unassigned (a node left, allocation delayed, ...)."""
    recovering: int = 0
    """Shards initializing or relocating."""
    reasons: set[str] = field(default_factory=set)
    """``unassigned.reason`` of the missing ones (``NODE_LEFT``, ...)."""

    @property
    def degraded(self) -> bool:
        return bool(self.missing) or self.recovering > 0


def yellow_cause(client: Any, data_nodes: int) -> YellowCause:
    """Why the cluster is yellow, from ``_cat/shards`` and every index's ``number_of_replicas``: a replica
    unassigned because its node left is missing whatever the count; otherwise it is unplaceable when its
    index asks for as many replicas as there are data nodes or more."""
    replicas = {row["index"]: int(row["rep"]) for row in client.cat.indices(format="json", h="index,rep",
                                                                            expand_wildcards="all")}
    cause = YellowCause()
    for row in client.cat.shards(format="json", h="index,shard,prirep,state,unassigned.reason"):
        state, index = row.get("state"), row.get("index", "?")
        if state in ("INITIALIZING", "RELOCATING"):
            cause.recovering += 1
        elif state == "UNASSIGNED" and row.get("prirep") == "r":
            reason = row.get("unassigned.reason") or ""
            if reason != "NODE_LEFT" and replicas.get(index, 0) >= data_nodes:
                cause.unplaceable[index] = cause.unplaceable.get(index, 0) + 1
            else:
                cause.missing[index] = cause.missing.get(index, 0) + 1
                cause.reasons.add(reason or "unknown")
    return cause


RECOVERY_WAIT_S = 20
"""Seconds a deploy waits for a yellow cluster short of copies to turn green before it refuses: a new index's
replicas take a moment to be built, and a node that just restarted takes a few seconds to recover."""


def check_yellow(client: Any, data_nodes: int, allow_yellow: bool = False,
                 wait_s: float = RECOVERY_WAIT_S) -> list[str]:
    """The warnings of a yellow cluster; refuses one that is short of a node or of copies (see the module
    docstring) and stays so for ``wait_s`` seconds, unless ``allow_yellow``."""
    cause = yellow_cause(client, data_nodes)
    if cause.degraded and not allow_yellow and wait_s > 0:
        health = client.cluster.health(wait_for_status="green", timeout=f"{wait_s:g}s")
        if health.get("status") == "green":
            return []
        cause = yellow_cause(client, int(health.get("number_of_data_nodes", data_nodes)))
    warnings = []
    if cause.unplaceable:
        names = ", ".join(f"{index} ({n})" for index, n in sorted(cause.unplaceable.items()))
        warnings.append(f"cluster health is yellow: replica shards that no node can hold (a replica never shares its "
                        f"primary's node, and the cluster has {data_nodes} data node(s)) stay unassigned: {names}")
    if not cause.degraded:
        return warnings
    missing = sum(cause.missing.values())
    what = []
    if missing:
        what.append(f"{missing} replica shard(s) that have a node to go to are unassigned "
                    f"({', '.join(sorted(cause.reasons))}; indices: {', '.join(sorted(cause.missing))})")
    if cause.recovering:
        what.append(f"{cause.recovering} shard(s) are still recovering (initializing or relocating)")
    waited = f" (still after {wait_s:g} s)" if wait_s > 0 and not allow_yellow else ""
    message = (f"cluster health is yellow on {data_nodes} data nodes{waited}: {'; '.join(what)}. A node is missing "
               "or the cluster is still rebuilding copies, so documents are held by fewer copies than asked for")
    if not allow_yellow:
        raise MrosError(message, "wait until it is green (`GET _cluster/health?wait_for_status=green&timeout=60s`; a "
                        "local cluster: `mros opensearch up --port PORT` restarts a lost node), or pass "
                        "{allow_yellow} to deploy anyway", parameters="allow_yellow")
    warnings.append(message + "; deploying anyway, as asked")
    return warnings


def alias_targets(client: Any, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


def run_preflight(client: Any, *, alias: str, dimension: int | None, embedding: str = "auto",
                  allow_dimension_change: bool = False, allow_yellow: bool = False) -> Preflight:
    check_index_name(alias)
    version = require_version(client.info())
    plugins = {row["component"] for row in client.cat.plugins(format="json")}
    if "opensearch-knn" not in plugins:
        raise MrosError("the cluster has no k-NN plugin (opensearch-knn)",
                        "install it on every node (`bin/opensearch-plugin install opensearch-knn`) or use "
                        "`mros opensearch up`")
    health = client.cluster.health()
    if health.get("status") == "red":
        raise MrosError("cluster health is red: some primary shards are unassigned",
                        "fix the cluster first (`GET _cluster/allocation/explain`), then rerun")
    data_nodes = int(health.get("number_of_data_nodes", 1))
    health_warnings = check_yellow(client, data_nodes, allow_yellow) if health.get("status") == "yellow" else []
    over = nodes_over_flood_stage(client)
    if over:
        raise MrosError(f"the cluster is over its flood-stage disk watermark: {'; '.join(over)}; OpenSearch makes "
                        "every index on such a node read-only, so the deploy would stop half way",
                        "free disk space on the node (or add disk), then rerun; `GET _cat/allocation?v` shows "
                        "the disk use per node")
    settings = client.cluster.get_settings(flat_settings=True)
    for scope in ("persistent", "transient"):
        for key in ("cluster.blocks.read_only", "cluster.blocks.read_only_allow_delete", "cluster.blocks.create_index"):
            if str(settings.get(scope, {}).get(key, "false")).lower() == "true":
                what = (f"the cluster refuses new indices ({key} is set; OpenSearch sets it when the data nodes "
                        "are over their flood-stage disk watermark)" if key.endswith("create_index")
                        else f"the cluster is read-only ({key} is set)")
                raise MrosError(what, "free disk space if the disk is full, then clear it (`PUT _cluster/settings "
                                f"{json.dumps({scope: {key: None}})}`) and rerun")
    missing = [p for p in ENGINE_PLUGINS if p not in plugins]
    if embedding == "engine" and missing:
        raise MrosError(f"{{embedding}} engine needs {', '.join(missing)}, which the cluster lacks",
                        "install ML Commons and neural-search, or deploy with {embedding} client",
                        parameters="embedding")
    if embedding == "client":
        chosen, reason = "client", "asked for with --embedding client"
    elif embedding == "engine":
        chosen, reason = "engine", "asked for with --embedding engine"
    elif embedding == "auto":
        if missing:
            chosen, reason = "client", f"the cluster lacks {', '.join(missing)}: mros embeds with the exported ONNX model"
        else:
            chosen, reason = "engine", "the cluster has ML Commons and neural-search: the model embeds inside it"
    else:
        raise UsageError(f"unknown embedding mode {embedding!r}", "use auto, engine or client", parameters="embedding")
    result = Preflight(version=version, plugins=plugins, health=str(health.get("status")),
                       data_nodes=data_nodes, embedding=chosen,  # type: ignore[arg-type]
                       embedding_reason=reason, warnings=health_warnings)
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise MrosError(f"{alias!r} is an index, not an alias", "choose another {alias}, or move that index away",
                        parameters="alias")
    targets = alias_targets(client, alias)
    result.alias_indices = targets
    for index in targets:
        manifest = read_index_manifest(client, index)
        if manifest is None:
            raise MrosError(f"alias {alias!r} points at {index}, an index mros did not create",
                            f"mros never moves an alias it does not own: choose another {{alias}}, or remove "
                            f"{alias!r} from {index} yourself (`POST _aliases` remove) if you mean to replace it",
                            parameters="alias")
        result.live_index, result.live_manifest = index, manifest
        refuse_blocked(client, index, f"the alias {alias!r} cannot be moved off it", BLOCKS_ON_ALIAS_MOVE)
    if len(targets) > 1:
        raise MrosError(f"alias {alias!r} points at {len(targets)} indices ({', '.join(targets)})",
                        "mros keeps one live index per alias; fix it with `mros rollback` or `POST _aliases`")
    live = result.live_manifest
    if live is not None and dimension is not None and live.dimension != dimension:
        message = (f"the model makes {dimension}-d vectors, the live index {result.live_index} holds "
                   f"{live.dimension}-d ones")
        if not allow_dimension_change:
            raise MrosError(message, "deploy under a new {alias}, or pass {allow_dimension_change} (clients "
                            "that embed queries with the old model will break)",
                            parameters=("alias", "allow_dimension_change"))
        result.warnings.append(message)
    return result
