"""``up``, ``status`` and ``down`` for a local node or a local cluster of several, shared by the CLI and the
test fixtures.

A cluster (:func:`up_cluster`) is N nodes of one OpenSearch home on 127.0.0.1, each with its own HTTP and
transport port, node folder and heap (:mod:`~mr_opensearch.cluster.node.state`,
:mod:`~mr_opensearch.cluster.node.config`). ``up`` on a cluster some of whose nodes are down starts only
those (on their own data): that is how a node that died is brought back.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from mr_opensearch.cluster.node import assembly, config, process, state
from mr_opensearch.cluster.node.java import find_jdk
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.cluster.node.state import CLUSTER_NAME, ClusterState, NodeState
from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION, REQUIRED_PLUGINS
from mr_opensearch.core.errors import MrosError, UsageError

DEFAULT_PORT = 9200
DEFAULT_HEAP = "2g"
"""Heap for a 2-core / 24 GB machine shared with model training; ML Commons models live off-heap."""
DEFAULT_CLUSTER_HEAP = "512m"
"""Heap of each node of a local cluster: three nodes hold well under a gigabyte of catalog each (vectors
and HNSW graphs live off-heap, in the page cache), and three JVMs of 512m leave a 24 GB machine room
for training."""
MAX_NODES = 9
"""The most nodes of a local cluster (its HTTP ports stay within PORT..PORT+8, transport within +100..+108)."""


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


def cluster_at(port: int = DEFAULT_PORT, root: Path | None = None) -> ClusterState | None:
    """The local cluster whose first node is on ``port``, None when that port is a single node's (or free)."""
    return state.load_cluster(state.node_dir(port, root))


def _refuse_port_clash(port: int, owner: str) -> None:
    for taken, what in ((port, "HTTP"), (state.transport_port(port), "transport")):
        if process.port_in_use(taken):
            raise MrosError(
                f"{what} port {taken} of {owner} on 127.0.0.1 is already in use by another process.",
                hint="stop that process, or pick another --port (a cluster of N nodes takes the HTTP ports "
                     "PORT..PORT+N-1 and the transport ports PORT+100..PORT+100+N-1)",
            )


def _new_cluster(port: int, nodes: int, heap: str | None, root: Path | None) -> ClusterState:
    """The layout of a new cluster; refuses node folders that already hold another node's data (it would
    not join: it keeps the cluster it belonged to)."""
    ports = list(range(port, port + nodes))
    cluster = ClusterState(name=f"mros-{port}", ports=ports, heap=heap or DEFAULT_CLUSTER_HEAP,
                           root=str(root if root is not None else state.nodes_root()))
    for node_port in ports:
        data = cluster.node_dir(node_port) / "data"
        if data.is_dir() and any(data.iterdir()):
            raise MrosError(
                f"{data} already holds the data of another node (a single node on port {node_port}?): it would "
                f"not join a new cluster",
                hint=f"pick another --port, or stop that node and delete {cluster.node_dir(node_port)} "
                     "(its indices go with it)",
            )
    return cluster


def up_cluster(
    *,
    port: int = DEFAULT_PORT,
    nodes: int = 3,
    heap: str | None = None,
    timeout: float = 300.0,
    plugin_zips: list[Path] | None = None,
    retry_maven: bool = False,
    root: Path | None = None,
    report: Reporter | None = None,
) -> ClusterState:
    """Start a cluster of ``nodes`` nodes on the HTTP ports ``port .. port+nodes-1`` (transport ports
    +100) and wait until every node has joined and it is green.

    A cluster already recorded on ``port`` is started as it was laid out (same nodes, same data): only
    its nodes that are not running are started, so ``up`` after a node died brings that node back.
    ``heap`` (default :data:`DEFAULT_CLUSTER_HEAP`, or the recorded one) is each node's."""
    if not 2 <= nodes <= MAX_NODES:
        raise UsageError(f"{{nodes}} {nodes}: a local cluster has 2 to {MAX_NODES} nodes (1 is the single node)",
                         parameters="nodes")
    saved = cluster_at(port, root)
    if saved is not None and len(saved.ports) != nodes:
        folders = ", ".join(str(saved.node_dir(p)) for p in saved.ports)
        raise MrosError(
            f"the cluster on port {port} has {len(saved.ports)} nodes, not {nodes}; mros does not grow or shrink "
            "a local cluster",
            hint=f"start it as it is (`mros opensearch up --port {port}`), or stop it and delete {folders} to make "
                 "a new one (its indices go with it)",
        )
    cluster = saved or _new_cluster(port, nodes, heap, root)
    if heap:
        cluster.heap = heap
    started_at = time.time()
    to_start = []
    for node_port in cluster.ports:
        current = running_state(cluster.node_dir(node_port))
        if current is not None and current.cluster != cluster.name:
            raise MrosError(f"a single node (not one of the cluster {cluster.name}) runs on port {node_port}",
                            hint=f"stop it (`mros opensearch down --port {node_port}`), or pick another --port")
        if current is None:
            _refuse_port_clash(node_port, f"node {state.node_name(node_port)}")
            to_start.append(node_port)
    if not to_start and report:
        report(f"OpenSearch cluster {cluster.name} already running: {', '.join(cluster.urls)}")
    started = _start_nodes(cluster, to_start, plugin_zips, retry_maven, report) if to_start else []
    health = process.wait_cluster_ready(cluster.urls, started, len(cluster.ports), timeout)
    if report:
        report(f"OpenSearch cluster {cluster.name} is {health.get('status')} with {health.get('number_of_nodes')} "
               f"nodes after {time.time() - started_at:.1f}s")
    return cluster


def _start_nodes(cluster: ClusterState, ports: list[int], plugin_zips: list[Path] | None, retry_maven: bool,
                 report: Reporter | None) -> list[tuple[int, Path, Path]]:
    """Start the nodes of ``cluster`` on ``ports`` (the home assembled first if need be) and record the cluster
    and each node; returns each node's ``(pid, folder, log file)``."""
    jdk = find_jdk()
    built = assembly.assemble(jdk, plugin_zips=plugin_zips, retry_maven=retry_maven, report=report)
    home = built.home_path
    plugins = {p.name for p in (home / "plugins").iterdir() if p.is_dir()}
    state.save_cluster(cluster)
    started = []
    for node_port in ports:
        node_dir = cluster.node_dir(node_port)
        config_dir = config.write_config(home, node_dir, node_port, cluster.heap, plugins, cluster)
        log = node_dir / "logs" / f"{cluster.name}.log"
        if report:
            report(f"Starting node {state.node_name(node_port)} of {cluster.name} on {state.url_of(node_port)} "
                   f"(transport {state.transport_port(node_port)}, heap {cluster.heap})")
        pid = process.start(home, config_dir, jdk, built.node_env, node_dir / "logs" / "stdout.log")
        state.save(NodeState(port=node_port, url=state.url_of(node_port), node_dir=str(node_dir),
                             version=built.version, heap=cluster.heap, pid=pid, home=str(home),
                             log_file=str(log), started_at=time.time(), cluster=cluster.name))
        started.append((pid, node_dir, log))
    return started


def down_cluster(cluster: ClusterState, timeout: float = 60.0) -> list[NodeState]:
    """Stop every running node of ``cluster`` (all at once); return those that were running. The layout
    (``cluster.json``) and the data stay, for the next ``up``."""
    running = [node for node in (running_state(cluster.node_dir(p)) for p in cluster.ports) if node is not None]
    process.stop(*(node.pid for node in running if node.pid), timeout=timeout)
    for node_port in cluster.ports:
        state.clear(cluster.node_dir(node_port))
    return running


def cluster_status(cluster: ClusterState) -> dict[str, Any]:
    """What ``mros opensearch status`` reports of a local cluster: each node (name, ports, pid, running) and
    the cluster as seen through the first running node (health, version, plugins, heap of all nodes)."""
    rows = []
    for node_port in cluster.ports:
        node = running_state(cluster.node_dir(node_port))
        rows.append({"name": state.node_name(node_port), "url": state.url_of(node_port), "port": node_port,
                     "transport_port": state.transport_port(node_port), "running": node is not None,
                     "pid": node.pid if node else None, "node_dir": str(cluster.node_dir(node_port)),
                     "log_file": node.log_file if node else None})
    live = [row for row in rows if row["running"]]
    base = {"cluster": cluster.name, "urls": cluster.urls, "nodes": rows, "heap": cluster.heap}
    if not live:
        return {"running": False, "url": cluster.urls[0], **base}
    return {**describe(live[0]["url"]), **base}


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
    port/folder, or the local cluster whose first node is on that port (:func:`cluster_status`);
    ``running`` is False when it is not up.
    """
    saved: NodeState | None = None
    cluster = cluster_at(port) if url is None and directory is None else None
    if cluster is not None:
        return cluster_status(cluster)
    if url is None:
        node_dir = state.resolve_dir(port, directory)
        saved = running_state(node_dir)
        if saved is None:
            return {"running": False, "url": f"http://127.0.0.1:{port}", "node_dir": str(node_dir)}
        url = saved.url
        result = describe(url)
    else:
        result = _describe_any(url)
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


def _describe_any(urls: str) -> dict[str, Any]:
    """The cluster of ``urls`` (one, or several nodes comma-separated) described by the first node that answers."""
    from mr_opensearch.cluster.connection import split_urls

    nodes = split_urls(urls)
    for url in nodes[:-1]:
        try:
            return describe(url)
        except MrosError:
            continue
    return describe(nodes[-1])


def describe(url: str) -> dict[str, Any]:
    """A running cluster as ``status`` reports it: url, version, name, health, nodes, plugins, heap."""
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
        "number_of_nodes": health.get("number_of_nodes"),
        "heap_used_bytes": heap_used,
        "heap_max_bytes": heap_max,
        "pid": None,
    }
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


__all__ = ["DEFAULT_CLUSTER_HEAP", "DEFAULT_HEAP", "DEFAULT_PORT", "OPENSEARCH_VERSION", "cluster_at",
           "cluster_status", "down", "down_cluster", "log_file", "status", "up", "up_cluster"]
