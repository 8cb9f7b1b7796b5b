"""Where a running node keeps its files and how ``status``/``down``/``logs`` find it again.

Each node started by ``mros opensearch up`` lives in ``$MROS_CACHE_DIR/nodes/<port>/``::

    config/      opensearch.yml, jvm.options (copied from the home, then written for this node)
    data/        path.data (ML Commons keeps its model cache in data/ml_cache)
    logs/        path.logs; the main log is logs/mros.log, the JVM's stdout/stderr logs/stdout.log
    node.json    pid, port, url, home, heap, version, log path, start time (or the Docker container)

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

    @property
    def path(self) -> Path:
        return Path(self.node_dir)


def node_dir(port: int) -> Path:
    return cache_dir() / "nodes" / str(port)


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
