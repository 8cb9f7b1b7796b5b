"""The per-node configuration: ``opensearch.yml`` and ``jvm.options`` written for one node.

On 127.0.0.1, no security plugin, disk watermarks off (a busy developer disk must not turn the
cluster red), and - only when ML Commons is installed, since OpenSearch refuses unknown settings -
the ML Commons settings that let a data node run local models.

A single node runs with ``discovery.type: single-node`` and a transport port range. A node of a
cluster (:class:`~mr_opensearch.cluster.node.state.ClusterState`) has its own name
(``mros-<http port>``), one fixed transport port (HTTP port + 100), every node's transport address
as ``discovery.seed_hosts``, and every node's name as ``cluster.initial_cluster_manager_nodes`` (read
only when the cluster forms the first time; every node is cluster-manager eligible and a data node,
so a 3-node cluster keeps a quorum when one node is lost).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from mr_opensearch.cluster.node.state import CLUSTER_NAME, ClusterState, node_name, transport_port
from mr_opensearch.core.safe_write import write_text

ML_COMMONS_SETTINGS: dict[str, object] = {
    "plugins.ml_commons.only_run_on_ml_node": False,
    "plugins.ml_commons.native_memory_threshold": 100,
    "plugins.ml_commons.jvm_heap_memory_threshold": 100,
    "plugins.ml_commons.allow_registering_model_via_url": True,
    "plugins.ml_commons.model_access_control_enabled": False,
    "plugins.ml_commons.connector_access_control_enabled": False,
}
"""Settings for a one-node ML Commons: run models on the data node, no memory circuit breaker."""


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)  # a YAML flow sequence
    return str(value)


def discovery_settings(port: int, cluster: ClusterState | None) -> dict[str, object]:
    """How the node finds its peers: alone (``single-node``), or through every node of ``cluster``."""
    if cluster is None:
        return {"cluster.name": CLUSTER_NAME, "node.name": node_name(port),
                "transport.port": f"{port + 100}-{port + 199}", "discovery.type": "single-node"}
    return {
        "cluster.name": cluster.name,
        "node.name": node_name(port),
        "transport.port": transport_port(port),
        "discovery.seed_hosts": [f"127.0.0.1:{transport_port(peer)}" for peer in cluster.ports],
        "cluster.initial_cluster_manager_nodes": cluster.node_names,
    }


def node_settings(port: int, node_dir: Path, plugins: set[str],
                  cluster: ClusterState | None = None) -> dict[str, object]:
    settings: dict[str, object] = {
        **discovery_settings(port, cluster),
        "network.host": "127.0.0.1",
        "http.port": port,
        "path.data": str(node_dir / "data"),
        "path.logs": str(node_dir / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": False,
        "action.destructive_requires_name": False,
    }
    if "opensearch-ml" in plugins:
        settings.update(ML_COMMONS_SETTINGS)
    return settings


def write_config(home: Path, node_dir: Path, port: int, heap: str, plugins: set[str],
                 cluster: ClusterState | None = None) -> Path:
    """Create ``node_dir/config`` from the home's config for this node (one of ``cluster`` when given);
    return its path."""
    config = node_dir / "config"
    if not config.is_dir():
        shutil.copytree(home / "config", config)
    for sub in ("data", "logs"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    lines = [f"{key}: {_yaml_value(value)}" for key, value in node_settings(port, node_dir, plugins, cluster).items()]
    write_text(config / "opensearch.yml", "# written by mros opensearch up\n" + "\n".join(lines) + "\n")
    options = (home / "config" / "jvm.options").read_text()
    options = re.sub(r"^-Xms\S+$", f"-Xms{heap}", options, flags=re.M)
    options = re.sub(r"^-Xmx\S+$", f"-Xmx{heap}", options, flags=re.M)
    logs = node_dir / "logs"
    options = options.replace("file=logs/gc.log", f"file={logs}/gc.log")
    options = options.replace("-XX:ErrorFile=logs/", f"-XX:ErrorFile={logs}/")
    options = options.replace("-XX:HeapDumpPath=data", f"-XX:HeapDumpPath={node_dir / 'data'}")
    write_text(config / "jvm.options", options)
    return config
