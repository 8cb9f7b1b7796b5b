"""``up``, ``status`` and ``down`` for a local node, shared by the CLI and the test fixtures."""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from mr_opensearch.cluster.node import assembly, config, process, state
from mr_opensearch.cluster.node.java import find_jdk
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.cluster.node.state import CLUSTER_NAME, NodeState
from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION, REQUIRED_PLUGINS
from mr_opensearch.core.errors import MrosError

DEFAULT_PORT = 9200
DEFAULT_HEAP = "2g"
"""Heap for a 2-core / 24 GB machine shared with model training; ML Commons models live off-heap."""


def running_state(directory: Path) -> NodeState | None:
    """The saved state of the node in ``directory`` when that node is still running."""
    saved = state.load(directory)
    if saved is None:
        return None
    if saved.container_id:
        from mr_opensearch.cluster.node import docker

        return saved if docker.container_running(saved.container_id) else None
    return saved if process.is_node_process(saved.pid, directory) else None


def up(
    *,
    port: int = DEFAULT_PORT,
    heap: str = DEFAULT_HEAP,
    timeout: float = 180.0,
    plugin_zips: list[Path] | None = None,
    retry_maven: bool = False,
    directory: Path | None = None,
    report: Reporter | None = None,
    without: Collection[str] = (),
) -> NodeState:
    """Assemble the home if needed, start a node on ``127.0.0.1:port`` and wait until it is healthy
    (green, or yellow with every primary active: one node never holds replicas, see
    :func:`mr_opensearch.cluster.node.process.is_healthy`).

    An mros node already running in the same node folder is returned as it is. ``without`` names
    plugins the node must not load (a home of hard links less those plugins,
    :func:`assembly.without_plugins`): the tests start a node without k-NN that way.
    """
    node_dir = state.resolve_dir(port, directory)
    current = running_state(node_dir)
    if current is not None:
        if report:
            report(f"OpenSearch already running at {current.url} (pid {current.pid})")
        return current
    if process.port_in_use(port):
        raise MrosError(
            f"Port {port} on 127.0.0.1 is already in use by another process (not a node mros started).",
            hint="stop that process, or pick another port with --port",
        )
    jdk = find_jdk()
    built = assembly.assemble(jdk, plugin_zips=plugin_zips, retry_maven=retry_maven, report=report)
    built = assembly.without_plugins(built, without)
    home = built.home_path
    plugins = {p.name for p in (home / "plugins").iterdir() if p.is_dir()}
    config_dir = config.write_config(home, node_dir, port, heap, plugins)
    log_file = node_dir / "logs" / f"{CLUSTER_NAME}.log"
    url = f"http://127.0.0.1:{port}"
    if report:
        report(f"Starting OpenSearch {built.version} on {url} (Java {jdk.major} at {jdk.home}, heap {heap})")
    started = time.time()
    pid = process.start(home, config_dir, jdk, built.node_env, node_dir / "logs" / "stdout.log")
    node = NodeState(
        port=port,
        url=url,
        node_dir=str(node_dir),
        version=built.version,
        heap=heap,
        pid=pid,
        home=str(home),
        log_file=str(log_file),
        started_at=started,
    )
    state.save(node)
    health = process.wait_healthy(url, pid, node_dir, timeout, log_file)
    try:
        process.apply_cluster_settings(url, process.SINGLE_NODE_CLUSTER_SETTINGS)
    except (OSError, ValueError) as exc:
        if report:
            report(f"warning: could not default new indices to 0 replicas ({exc}); they will be yellow")
    if report:
        report(f"OpenSearch is {health.get('status')} at {url} after {time.time() - started:.1f}s (pid {pid})")
        if built.missing:
            for name, why in sorted(built.missing.items()):
                report(f"warning: plugin {name} is not installed: {why}")
    return node


def down(
    *, port: int = DEFAULT_PORT, directory: Path | None = None, timeout: float = 60.0
) -> NodeState | None:
    """Stop the node mros started in this node folder; return its state, None if none was running."""
    node_dir = state.resolve_dir(port, directory)
    saved = state.load(node_dir)
    if saved is None:
        return None
    if saved.container_id:
        from mr_opensearch.cluster.node import docker

        docker.stop(saved.container_id)
    elif saved.pid and process.is_node_process(saved.pid, node_dir):
        process.stop(saved.pid, timeout=timeout)
    else:
        state.clear(node_dir)
        return None
    state.clear(node_dir)
    return saved


def status(
    *, port: int = DEFAULT_PORT, directory: Path | None = None, url: str | None = None
) -> dict[str, Any]:
    """What ``mros opensearch status`` reports: url, version, health, plugins, pid, heap.

    With ``url`` any reachable cluster is described (no pid). Otherwise the mros node of that
    port/folder; ``running`` is False when it is not up.
    """
    saved: NodeState | None = None
    if url is None:
        node_dir = state.resolve_dir(port, directory)
        saved = running_state(node_dir)
        if saved is None:
            return {"running": False, "url": f"http://127.0.0.1:{port}", "node_dir": str(node_dir)}
        url = saved.url
    else:
        from mr_opensearch.cluster.connection import refuse_url_credentials

        refuse_url_credentials(url)
    url = url.rstrip("/")
    try:
        root = process.http_json(url)
        health = process.http_json(f"{url}/_cluster/health")
        plugins_raw = process.http_json(f"{url}/_cat/plugins?format=json")
        jvm = process.http_json(f"{url}/_nodes/stats/jvm")
    except (OSError, ValueError) as exc:
        raise MrosError(
            f"OpenSearch at {url} does not answer: {exc}", hint="see `mros opensearch logs`"
        ) from None
    plugins = sorted({p["component"]: p["version"] for p in plugins_raw}.items())
    heap_used = heap_max = 0
    for node in jvm.get("nodes", {}).values():
        mem = node.get("jvm", {}).get("mem", {})
        heap_used += int(mem.get("heap_used_in_bytes", 0))
        heap_max += int(mem.get("heap_max_in_bytes", 0))
    names = {name for name, _ in plugins}
    result: dict[str, Any] = {
        "running": True,
        "url": url,
        "version": root.get("version", {}).get("number"),
        "cluster_name": root.get("cluster_name"),
        "health": health.get("status"),
        "plugins": [{"name": name, "version": version} for name, version in plugins],
        "missing_plugins": [p for p in REQUIRED_PLUGINS if p not in names],
        "heap_used_bytes": heap_used,
        "heap_max_bytes": heap_max,
        "pid": None,
    }
    if saved is not None:
        result.update(
            {
                "pid": saved.pid,
                "container_id": saved.container_id,
                "node_dir": saved.node_dir,
                "home": saved.home,
                "log_file": saved.log_file,
                "heap": saved.heap,
                "started_at": saved.started_at,
            }
        )
    return result


def log_file(*, port: int = DEFAULT_PORT, directory: Path | None = None) -> Path:
    """The main log of the node in this port/folder (it may have stopped)."""
    node_dir = state.resolve_dir(port, directory)
    saved = state.load(node_dir)
    if saved is not None and saved.log_file:
        return Path(saved.log_file)
    path = node_dir / "logs" / f"{CLUSTER_NAME}.log"
    if not path.is_file():
        raise MrosError(
            f"No OpenSearch log in {node_dir / 'logs'}", hint="start a node with `mros opensearch up`"
        )
    return path


__all__ = ["DEFAULT_HEAP", "DEFAULT_PORT", "OPENSEARCH_VERSION", "down", "log_file", "status", "up"]
