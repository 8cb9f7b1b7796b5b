"""Checks made before a deploy writes anything: each failure is a refusal that says what to do.

* the cluster answers, runs OpenSearch 3.0+ (``min_max`` ``lower_bounds``; a hybrid request's
  top-level ``min_score`` on the combined score needs 3.5) and has the k-NN plugin;
* cluster health is not red, and no read-only block is set;
* the alias, when it exists, points only at indices mros created (their ``_meta`` manifest);
* the model's dimension matches the live index behind the alias (unless a change is allowed);
* the engine embedding mode has ML Commons and neural-search; ``auto`` picks it only then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mr_opensearch.errors import MrosError
from mr_opensearch.manifest import Manifest, read_index_manifest
from mr_opensearch.ml_commons import ENGINE_PLUGINS

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
        raise MrosError(f"invalid {what} name {name!r}: {'; '.join(problems)}",
                        "use lower-case letters, digits, '-' and '.' (e.g. products)", exit_code=2)
    return name


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text or "")
    if not match:
        raise MrosError(f"cannot read the cluster version {text!r}", "point --url at an OpenSearch cluster")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


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


def alias_targets(client: Any, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


def run_preflight(client: Any, *, alias: str, dimension: int | None, embedding: str = "auto",
                  allow_dimension_change: bool = False) -> Preflight:
    check_index_name(alias)
    info = client.info()
    version = str(info.get("version", {}).get("number", ""))
    if info.get("version", {}).get("distribution", "opensearch") != "opensearch":
        raise MrosError(f"the cluster is not OpenSearch ({info.get('version')})", "mros deploys to OpenSearch 3.x")
    if parse_version(version) < (3, 0, 0):
        raise MrosError(f"the cluster runs OpenSearch {version}; mros needs 3.0+ (hybrid lower_bounds)",
                        "upgrade the cluster, or deploy to a 3.x cluster")
    plugins = {row["component"] for row in client.cat.plugins(format="json")}
    if "opensearch-knn" not in plugins:
        raise MrosError("the cluster has no k-NN plugin (opensearch-knn)",
                        "install it on every node (`bin/opensearch-plugin install opensearch-knn`) or use "
                        "`mros opensearch up`")
    health = client.cluster.health()
    if health.get("status") == "red":
        raise MrosError("cluster health is red: some primary shards are unassigned",
                        "fix the cluster first (`GET _cluster/allocation/explain`), then rerun")
    settings = client.cluster.get_settings(flat_settings=True)
    for scope in ("persistent", "transient"):
        for key in ("cluster.blocks.read_only", "cluster.blocks.read_only_allow_delete"):
            if str(settings.get(scope, {}).get(key, "false")).lower() == "true":
                raise MrosError(f"the cluster is read-only ({key} is set)",
                                f"clear it (`PUT _cluster/settings {{\"{scope}\": {{\"{key}\": null}}}}`) "
                                "after freeing disk space, then rerun")
    missing = [p for p in ENGINE_PLUGINS if p not in plugins]
    if embedding == "engine" and missing:
        raise MrosError(f"--embedding engine needs {', '.join(missing)}, which the cluster lacks",
                        "install ML Commons and neural-search, or deploy with --embedding client")
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
        raise MrosError(f"unknown embedding mode {embedding!r}", "use auto, engine or client", exit_code=2)
    result = Preflight(version=version, plugins=plugins, health=str(health.get("status")),
                       data_nodes=int(health.get("number_of_data_nodes", 1)), embedding=chosen,  # type: ignore[arg-type]
                       embedding_reason=reason)
    if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
        raise MrosError(f"{alias!r} is an index, not an alias", "choose another --alias, or move that index away")
    targets = alias_targets(client, alias)
    result.alias_indices = targets
    for index in targets:
        manifest = read_index_manifest(client, index)
        if manifest is None:
            raise MrosError(f"alias {alias!r} points at {index}, an index mros did not create",
                            f"mros never moves an alias it does not own: choose another --alias, or remove "
                            f"{alias!r} from {index} yourself (`POST _aliases` remove) if you mean to replace it")
        result.live_index, result.live_manifest = index, manifest
    if len(targets) > 1:
        raise MrosError(f"alias {alias!r} points at {len(targets)} indices ({', '.join(targets)})",
                        "mros keeps one live index per alias; fix it with `mros rollback` or `POST _aliases`")
    live = result.live_manifest
    if live is not None and dimension is not None and live.dimension != dimension:
        message = (f"the model makes {dimension}-d vectors, the live index {result.live_index} holds "
                   f"{live.dimension}-d ones")
        if not allow_dimension_change:
            raise MrosError(message, "deploy under a new --alias, or pass --allow-dimension-change (clients "
                            "that embed queries with the old model will break)")
        result.warnings.append(message)
    return result
