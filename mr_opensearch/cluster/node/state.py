"""Where a running node keeps its files and how ``status``/``down``/``logs`` find it again.

Each node started by ``mros opensearch up`` lives in ``$MROS_CACHE_DIR/nodes/<port>/``::

    config/      opensearch.yml, jvm.options (copied from the home, then written for this node)
    data/        path.data (ML Commons keeps its model cache in data/ml_cache)
    logs/        path.logs; the main log is logs/mros.log, the JVM's stdout/stderr logs/stdout.log
    node.json    pid, port, url, home, heap, version, log path, start time (or the Docker container)

A cluster of N nodes (``mros opensearch up --nodes N --port P``) takes the HTTP ports ``P .. P+N-1`` and
the transport ports ``P+100 .. P+100+N-1``, one node folder each (``nodes/P``, ``nodes/P+1``, ...), and
records its layout in ``nodes/P/cluster.json`` (:class:`ClusterState`: its name, every node's ports and
the heap). That file stays after ``down``: it is what ``up`` restarts (missing nodes only, on their own
data), what ``status`` and ``down`` go through, and where the commands that talk to the cluster find every
node's URL when no ``--url`` is given.

The state sits beside the node's data in the cache, not in ``MROS_HOME``: tests give every test
its own ``MROS_HOME`` while a node started by one must be found and stopped by another. A node is
addressed by its HTTP port (``--port``, default 9200); ``--node-dir`` names the folder directly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from mr_opensearch.core.paths import cache_dir
from mr_opensearch.core.safe_write import write_text

CLUSTER_NAME = "mros"
STATE_FILE = "node.json"
CLUSTER_FILE = "cluster.json"
TRANSPORT_OFFSET = 100
"""A node's transport port is its HTTP port plus this (``10200`` -> ``10300``)."""


@dataclass
class NodeState:
    port: int
    url: str
    node_dir: str
    version: str
    heap: str
    pid: int | None = None
    home: str | None = None
    log_file: str | None = None
    started_at: float | None = None
    container_id: str | None = None
    cluster: str | None = None
    """The cluster's name when the node is one of a cluster of several (``None``: a single node)."""

    @property
    def path(self) -> Path:
        return Path(self.node_dir)


@dataclass
class ClusterState:
    """The layout of a local cluster of several nodes: what ``cluster.json`` holds."""

    name: str
    ports: list[int]
    """HTTP ports of the nodes, the cluster's own port (the first node's) first."""
    heap: str
    root: str
    """The folder that holds the node folders (``<root>/<port>``)."""

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def urls(self) -> list[str]:
        return [url_of(port) for port in self.ports]

    @property
    def node_names(self) -> list[str]:
        return [node_name(port) for port in self.ports]

    def node_dir(self, port: int) -> Path:
        return Path(self.root) / str(port)


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def node_name(port: int) -> str:
    return f"mros-{port}"


def transport_port(port: int) -> int:
    return port + TRANSPORT_OFFSET


def nodes_root() -> Path:
    return cache_dir() / "nodes"


def node_dir(port: int, root: Path | None = None) -> Path:
    return (root if root is not None else nodes_root()) / str(port)


def resolve_dir(port: int, directory: Path | None) -> Path:
    return directory if directory is not None else node_dir(port)


def load(directory: Path) -> NodeState | None:
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    return NodeState(**json.loads(path.read_text()))


def save(state: NodeState) -> None:
    write_text(state.path / STATE_FILE, json.dumps(asdict(state), indent=2, sort_keys=True) + "\n")


def clear(directory: Path) -> None:
    (directory / STATE_FILE).unlink(missing_ok=True)


def load_cluster(directory: Path) -> ClusterState | None:
    """The cluster whose first node lives in ``directory``, None when that folder holds no cluster."""
    path = directory / CLUSTER_FILE
    if not path.is_file():
        return None
    return ClusterState(**json.loads(path.read_text()))


def save_cluster(cluster: ClusterState) -> None:
    write_text(cluster.node_dir(cluster.port) / CLUSTER_FILE,
               json.dumps(asdict(cluster), indent=2, sort_keys=True) + "\n")
