"""``mros opensearch``: a local OpenSearch node assembled from Maven Central.

``up`` builds (once) an OpenSearch home in ``$MROS_CACHE_DIR`` and starts a single node on
127.0.0.1; ``status``, ``down`` and ``logs`` find that node again by its port (``--port``) in
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
from mr_opensearch.cluster.node.lifecycle import DEFAULT_HEAP, DEFAULT_PORT
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.core.errors import MrosError

app = typer.Typer(
    help="Run a local OpenSearch 3.x node with k-NN, ML Commons and neural search.", no_args_is_help=True
)

PORT = typer.Option(DEFAULT_PORT, "--port", "-p", min=1, max=65535, help="HTTP port of the node on 127.0.0.1.")


def _heap(value: str) -> str:
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
    heap: str = typer.Option(DEFAULT_HEAP, "--heap", callback=_heap, help="JVM heap (-Xms/-Xmx), e.g. 1g, 2g, 1536m."),
    timeout: float = typer.Option(180.0, "--timeout", min=1, help="Seconds to wait for the node to be healthy (green, or yellow with every primary active)."),
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
    """Assemble (once) and start a single-node OpenSearch on 127.0.0.1, then wait until it is healthy (green, or yellow with every primary active on one node)."""
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
    elif not report["running"]:
        result(f"No mros OpenSearch node is running at {report['url']}.")
    else:
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
    """Stop the node `mros opensearch up` started on this port (and only that one); none running is not an error."""
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
