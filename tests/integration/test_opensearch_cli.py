"""``mros opensearch up | status | down`` against real nodes."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION, REQUIRED_PLUGINS

pytestmark = pytest.mark.integration

runner = CliRunner()


def _mros(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _status_json(*args: str) -> dict[str, Any]:
    result = _mros("opensearch", "status", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_json_reports_the_cluster(opensearch_url: str, installed_plugins: set[str]) -> None:
    report = _status_json("--url", opensearch_url)
    assert report["running"] is True
    assert report["url"] == opensearch_url
    assert report["health"] in ("green", "yellow")
    assert report["heap_max_bytes"] > 0
    names = {p["name"] for p in report["plugins"]}
    assert names == installed_plugins
    assert set(report["missing_plugins"]) == set(REQUIRED_PLUGINS) - installed_plugins
    assert "opensearch-knn" in names


def test_status_json_lists_the_four_plugins(
    opensearch_url: str, require_plugins: Callable[..., None]
) -> None:
    require_plugins(*REQUIRED_PLUGINS)
    report = _status_json("--url", opensearch_url)
    assert {p["name"] for p in report["plugins"]} >= set(REQUIRED_PLUGINS)
    assert report["missing_plugins"] == []


local_only = pytest.mark.skipif(
    bool(os.environ.get("MROS_OPENSEARCH_URL")), reason="MROS_OPENSEARCH_URL is set: no local node is started"
)


@local_only
@pytest.mark.slow
def test_up_status_down_leaves_no_process(opensearch_url: str) -> None:
    # opensearch_url is requested so the home is assembled before this test times its own node.
    port = 9251
    assert _mros("opensearch", "up", "--port", str(port), "--heap", "512m").exit_code == 0
    try:
        report = _status_json("--port", str(port))
        assert report["running"] and report["version"] == OPENSEARCH_VERSION
        assert report["url"] == f"http://127.0.0.1:{port}"
        pid = report["pid"]
        assert psutil.pid_exists(pid)
        node_dir = report["node_dir"]
        again = _mros("opensearch", "up", "--port", str(port))
        assert again.exit_code == 0 and "already running" in again.output
    finally:
        down = _mros("opensearch", "down", "--port", str(port))
    assert down.exit_code == 0, down.output
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    leftovers = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if node_dir in cmdline:
            leftovers.append(proc.info["pid"])
    assert leftovers == []
    status = _mros("opensearch", "status", "--port", str(port))
    assert status.exit_code == 1 and "No mros OpenSearch node" in status.output
    assert _mros("opensearch", "down", "--port", str(port)).exit_code == 0


@local_only
def test_up_refuses_a_taken_port(opensearch_url: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _mros("opensearch", "up", "--port", str(port))
    assert result.exit_code == 1
    assert f"Port {port}" in result.output and "already in use" in result.output


@local_only
def test_logs_shows_the_node_log(opensearch_url: str) -> None:
    port = opensearch_url.rsplit(":", 1)[1]
    result = _mros("opensearch", "logs", "--port", port, "-n", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert 0 < len(lines) <= 5
    assert all(line.startswith("[") for line in lines if line)


RESTART_PORT = int(os.environ.get("MROS_TEST_RESTART_PORT", "9266"))
"""The node this test stops and starts: never the session's shared test node."""


@local_only
@pytest.mark.skipif(int(os.environ.get("MROS_TEST_OPENSEARCH_PORT", "9250")) == RESTART_PORT,
                    reason="MROS_TEST_RESTART_PORT is the shared test node's port; set it to a free port of your own")
def test_a_node_holding_a_one_replica_index_restarts() -> None:
    """One node never places replicas: an index with OpenSearch's default of one replica keeps the cluster
    yellow forever. `up` used to wait for green, so after such an index a second `up` on the same node
    folder failed after its whole timeout (seen 2026-12-02). Yellow with every primary active is healthy."""
    import time
    import urllib.request

    from mr_opensearch.cluster.node import process

    port = str(RESTART_PORT)
    base = f"http://127.0.0.1:{port}"

    def call(method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    first = _mros("opensearch", "up", "--port", port, "--heap", "512m", "--timeout", "240")
    assert first.exit_code == 0, first.output
    try:
        for index in ("mros-restart-one-replica", "mros-restart-default"):
            call("DELETE", f"/{index}?ignore_unavailable=true")
        call("PUT", "/mros-restart-one-replica", {"settings": {"index": {"number_of_replicas": 1}}})
        call("PUT", "/mros-restart-default")  # no settings: the node's default
        assert call("GET", "/mros-restart-default/_settings")["mros-restart-default"]["settings"]["index"][
            "number_of_replicas"] == "0"
        health = call("GET", "/_cluster/health?wait_for_status=yellow&timeout=30s")
        assert health["status"] == "yellow" and health["unassigned_shards"] == 1
        assert process.is_healthy(health)
    finally:
        assert _mros("opensearch", "down", "--port", port).exit_code == 0
    started = time.monotonic()
    second = _mros("opensearch", "up", "--port", port, "--heap", "512m", "--timeout", "120")
    elapsed = time.monotonic() - started
    try:
        assert second.exit_code == 0, second.output
        assert "is yellow" in second.output and elapsed < 120
        assert call("GET", "/_cat/indices/mros-restart-*?format=json")
    finally:
        for index in ("mros-restart-one-replica", "mros-restart-default"):
            call("DELETE", f"/{index}?ignore_unavailable=true")
        assert _mros("opensearch", "down", "--port", port).exit_code == 0
