"""``mros opensearch``: a local OpenSearch node assembled from Maven Central.

``up`` builds (once) an OpenSearch home in ``$MROS_CACHE_DIR`` and starts a single node on
127.0.0.1, or with ``--nodes N`` a cluster of N nodes on the ports ``--port .. --port+N-1``; ``status``,
``down`` and ``logs`` find that node (or cluster) again by its port (``--port``) in
``$MROS_CACHE_DIR/nodes/<port>/``. See ``docs/opensearch-node.md``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import typer

from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state
from mr_opensearch.cluster.node import lifecycle, process
from mr_opensearch.cluster.node.lifecycle import DEFAULT_CLUSTER_HEAP, DEFAULT_HEAP, DEFAULT_PORT, MAX_NODES
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.core.errors import MrosError

app = typer.Typer(
    help="Run a local OpenSearch 3.x node with k-NN, ML Commons and neural search.", no_args_is_help=True
)

PORT = typer.Option(DEFAULT_PORT, "--port", "-p", min=1, max=65535, help="HTTP port of the node on 127.0.0.1.")


def _heap(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"[1-9][0-9]*[kKmMgG]", value):
        raise typer.BadParameter(f"{value!r} is not a JVM heap size; use e.g. 1g, 2g or 1536m")
    return value
NODE_DIR = typer.Option(
    None, "--node-dir", help="Node folder (default: $MROS_CACHE_DIR/nodes/<port>).", file_okay=False
)


def _reporter() -> Reporter | None:
    return info if show_progress() else None


def _size(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(num) < 1024 or unit == "GiB":
            return f"{num:.1f} {unit}" if unit != "B" else f"{int(num)} B"
        num /= 1024
    return f"{num:.1f} GiB"


@app.command()
@handle_errors
def up(
    port: int = PORT,
    nodes: int | None = typer.Option(None, "--nodes", min=1, max=MAX_NODES, help="Nodes: 1 is a single "
                                     "node; N starts a cluster on the HTTP ports PORT..PORT+N-1 (transport ports "
                                     "+100), each with its own data and heap (default: the cluster recorded on "
                                     "PORT, else 1). On a cluster some of whose nodes are down, only those start."),
    heap: str | None = typer.Option(None, "--heap", callback=_heap, help=f"JVM heap (-Xms/-Xmx) of each node, e.g. "
                                    f"512m, 1g, 2g (default: {DEFAULT_HEAP} for a single node, {DEFAULT_CLUSTER_HEAP} "
                                    "per node of a cluster)."),
    timeout: float = typer.Option(180.0, "--timeout", min=1, help="Seconds to wait for the node to be healthy (green, or yellow with every primary active; a cluster: every node joined and green)."),
    plugin_zip: list[Path] = typer.Option(
        [],
        "--plugin-zip",
        help="A plugin zip to install instead of fetching it from Maven (repeatable).",
        exists=True,
    ),
    retry_maven: bool = typer.Option(
        False, "--retry-maven", help="Try again to fetch plugins Maven did not serve."
    ),
    docker: bool = typer.Option(
        False, "--docker", help="Run the official image through testcontainers instead."
    ),
    node_dir: Path | None = NODE_DIR,
) -> None:
    """Assemble (once) and start a single-node OpenSearch on 127.0.0.1 (or --nodes N: a cluster of N nodes), then wait until it is healthy (green, or yellow with every primary active on one node)."""
    cluster = lifecycle.cluster_at(port) if node_dir is None else None
    size = nodes or (len(cluster.ports) if cluster is not None else 1)
    if size > 1:
        _up_cluster(port, size, heap, timeout, plugin_zip, retry_maven, node_dir, docker)
        return
    if cluster is not None:
        raise MrosError(f"port {port} is the first node of the {len(cluster.ports)}-node cluster {cluster.name}",
                        f"start it with `mros opensearch up --port {port}` (no --nodes, or --nodes "
                        f"{len(cluster.ports)}), or pick another --port for a single node", exit_code=2)
    heap = heap or DEFAULT_HEAP
    if docker:
        from mr_opensearch.cluster.node import docker as docker_node

        node = docker_node.up(port=port, heap=heap, timeout=timeout, report=_reporter())
    else:
        node = lifecycle.up(
            port=port,
            heap=heap,
            timeout=timeout,
            plugin_zips=plugin_zip,
            retry_maven=retry_maven,
            directory=node_dir,
            report=info,
        )
    report = lifecycle.status(port=port, directory=node_dir if not docker else None)
    if state.json:
        emit_json(report)
        return
    if state.quiet:
        key_values((node.url, report.get("health")))
        return
    result(f"OpenSearch {report.get('version')} is {report.get('health')} at {node.url}")
    if report.get("missing_plugins"):
        info("Missing plugins: " + ", ".join(report["missing_plugins"]) + " (see docs/opensearch-node.md)")


def _up_cluster(port: int, nodes: int, heap: str | None, timeout: float, plugin_zip: list[Path],
                retry_maven: bool, node_dir: Path | None, docker: bool) -> None:
    if docker or node_dir is not None:
        raise MrosError(f"--nodes {nodes} starts a local cluster from the assembled home in $MROS_CACHE_DIR/nodes/: "
                        f"{'--docker' if docker else '--node-dir'} is for a single node",
                        f"drop {'--docker' if docker else '--node-dir'}, or start a single node", exit_code=2)
    cluster = lifecycle.up_cluster(port=port, nodes=nodes, heap=heap, timeout=timeout, plugin_zips=plugin_zip,
                                   retry_maven=retry_maven, report=info)
    report = lifecycle.cluster_status(cluster)
    if state.json:
        emit_json(report)
        return
    if state.quiet:
        key_values((",".join(cluster.urls), report.get("health")))
        return
    result(f"OpenSearch {report.get('version')} cluster {cluster.name} is {report.get('health')} with "
           f"{report.get('number_of_nodes')} nodes at {','.join(cluster.urls)}")
    if report.get("missing_plugins"):
        info("Missing plugins: " + ", ".join(report["missing_plugins"]) + " (see docs/opensearch-node.md)")


def _print_nodes(report: dict) -> None:
    result(f"cluster:  {report['cluster']} ({sum(n['running'] for n in report['nodes'])} of "
           f"{len(report['nodes'])} nodes running, heap {report['heap']} each)")
    for node in report["nodes"]:
        where = f"pid {node['pid']}" if node["running"] else "down"
        result(f"  {node['name']:<12} {node['url']:<24} transport {node['transport_port']:<6} {where}")


@app.command()
@handle_errors
def status(
    port: int = PORT,
    node_dir: Path | None = NODE_DIR,
    url: str | None = typer.Option(None, "--url", help="Describe this cluster instead of the mros node."),
) -> None:
    """Report url, version, health, installed plugins, pid and heap of the node (exit 1 when it is down)."""
    report = lifecycle.status(port=port, directory=node_dir, url=url)
    if state.json:
        emit_json(report)
    elif state.quiet:
        if report["running"]:
            key_values((report["url"], report["health"]))
    elif not report["running"] and "nodes" in report:
        result(f"No node of the mros OpenSearch cluster {report['cluster']} is running.")
        _print_nodes(report)
    elif not report["running"]:
        result(f"No mros OpenSearch node is running at {report['url']}.")
    else:
        if "nodes" in report:
            _print_nodes(report)
        result(f"url:      {report['url']}")
        result(f"version:  {report['version']}")
        result(f"health:   {report['health']}")
        result(f"pid:      {report.get('pid') or report.get('container_id') or '-'}")
        result(f"heap:     {_size(report['heap_used_bytes'])} used of {_size(report['heap_max_bytes'])}")
        result("plugins:  " + ", ".join(f"{p['name']} {p['version']}" for p in report["plugins"]))
        if report["missing_plugins"]:
            result("missing:  " + ", ".join(report["missing_plugins"]))
        if report.get("log_file"):
            result(f"log:      {report['log_file']}")
    if not report["running"]:
        raise typer.Exit(1)


@app.command()
@handle_errors
def down(
    port: int = PORT,
    node_dir: Path | None = NODE_DIR,
    timeout: float = typer.Option(60.0, "--timeout", min=0, help="Seconds to wait before killing the JVM."),
) -> None:
    """Stop the node `mros opensearch up` started on this port (and only that one), or every node of the cluster
    whose first node is on this port; none running is not an error."""
    cluster = lifecycle.cluster_at(port) if node_dir is None else None
    if cluster is not None:
        nodes = lifecycle.down_cluster(cluster, timeout=timeout)
        if state.json:
            emit_json({"stopped": bool(nodes), "port": port, "url": cluster.urls[0], "pid": None,
                       "container_id": None, "cluster": cluster.name,
                       "nodes": [{"url": n.url, "pid": n.pid} for n in nodes]})
        elif not nodes:
            info(f"No node of the mros OpenSearch cluster {cluster.name} was running.")
        elif state.quiet:
            key_values(*(n.url for n in nodes))
        else:
            result(f"Stopped {len(nodes)} nodes of the OpenSearch cluster {cluster.name}: "
                   + ", ".join(f"{n.url} (pid {n.pid})" for n in nodes))
        return
    stopped = lifecycle.down(port=port, directory=node_dir, timeout=timeout)
    if state.json:
        emit_json({"stopped": stopped is not None, "port": port, "url": stopped.url if stopped else None,
                   "pid": stopped.pid if stopped else None, "container_id": stopped.container_id if stopped else None})
    elif stopped is None:
        info(f"No mros OpenSearch node was running on port {port}.")
    elif state.quiet:
        key_values(stopped.url)
    else:
        result(f"Stopped OpenSearch at {stopped.url} (pid {stopped.pid or stopped.container_id}).")


@app.command()
@handle_errors
def logs(
    port: int = PORT,
    node_dir: Path | None = NODE_DIR,
    lines: int = typer.Option(50, "-n", "--lines", min=1, help="How many of the last lines to show."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines (Ctrl-C to stop)."),
) -> None:
    """Show the end of the node's log (the lines themselves are the result, also under --quiet; --json prints the
    log file and its last lines, not with --follow)."""
    if state.json and follow:
        raise MrosError("--json and --follow cannot be combined: --json prints one object, --follow never ends",
                        "drop --follow, or drop --json to follow the log as text", exit_code=2)
    path = lifecycle.log_file(port=port, directory=node_dir)
    last = process.last_lines(path, lines)
    if state.json:
        emit_json({"log_file": str(path), "lines": list(last)})
        return
    key_values(*last)
    if not follow:
        return
    with open(path, errors="replace") as fh:
        fh.seek(0, 2)
        while True:
            line = fh.readline()
            if line:
                result(line.rstrip("\n"))
            else:
                time.sleep(0.5)
