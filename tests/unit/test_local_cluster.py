"""A local cluster of several nodes and the client side of losing one, without OpenSearch: each node's
settings and the recorded layout, the index layout a deploy picks, several node URLs, the client moving on
from a node that refuses, how the preflight reads yellow health, and the search load's error window.
The real cluster is in ``tests/integration/test_cluster_node_loss.py``."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from mr_opensearch.cluster.connection import ClusterConfig, connect, redact_url, split_urls
from mr_opensearch.cluster.node import config, process, state
from mr_opensearch.cluster.node.state import ClusterState, NodeState
from mr_opensearch.cluster.retry_policy import RetryPolicy, transport_class
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.deploy.index_layout import SHARD_TARGET_BYTES, estimated_bytes, index_layout
from mr_opensearch.deploy.preflight import check_yellow, yellow_cause
from mr_opensearch.search.live_eval import load


def three_nodes(root: Path) -> ClusterState:
    return ClusterState(name="mros-10200", ports=[10200, 10201, 10202], heap="512m", root=str(root))


def test_each_node_of_a_cluster_has_its_name_its_transport_port_and_every_peer(tmp_path: Path):
    cluster = three_nodes(tmp_path)
    names, transports = set(), set()
    for port in cluster.ports:
        settings = config.node_settings(port, cluster.node_dir(port), set(), cluster)
        assert settings["cluster.name"] == "mros-10200"
        assert settings["http.port"] == port and settings["transport.port"] == port + 100
        assert settings["discovery.seed_hosts"] == ["127.0.0.1:10300", "127.0.0.1:10301", "127.0.0.1:10302"]
        assert settings["cluster.initial_cluster_manager_nodes"] == ["mros-10200", "mros-10201", "mros-10202"]
        assert "discovery.type" not in settings
        assert settings["path.data"] == str(tmp_path / str(port) / "data")
        names.add(settings["node.name"])
        transports.add(settings["transport.port"])
    assert len(names) == 3 and len(transports) == 3


def test_a_single_node_keeps_single_node_discovery(tmp_path: Path):
    settings = config.node_settings(9250, tmp_path, set())
    assert settings["discovery.type"] == "single-node"
    assert settings["transport.port"] == "9350-9449"
    assert "discovery.seed_hosts" not in settings


def test_the_written_opensearch_yml_reads_back_as_lists_and_the_heap_is_set(tmp_path: Path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "jvm.options").write_text("-Xms1g\n-Xmx1g\n")
    cluster = three_nodes(tmp_path / "nodes")
    written = config.write_config(home, cluster.node_dir(10201), 10201, "512m", set(), cluster)
    settings = yaml.safe_load((written / "opensearch.yml").read_text())
    assert settings["discovery.seed_hosts"][2] == "127.0.0.1:10302"
    assert settings["cluster.initial_cluster_manager_nodes"][0] == "mros-10200"
    assert settings["transport.port"] == 10301
    assert "-Xms512m" in (written / "jvm.options").read_text()


def test_the_cluster_layout_is_recorded_with_every_node(tmp_path: Path):
    cluster = three_nodes(tmp_path)
    state.save_cluster(cluster)
    again = state.load_cluster(tmp_path / "10200")
    assert again == cluster
    assert again.urls == ["http://127.0.0.1:10200", "http://127.0.0.1:10201", "http://127.0.0.1:10202"]
    assert state.load_cluster(tmp_path / "10201") is None  # the layout lives with the first node only


def test_up_refuses_another_size_foreign_data_and_a_cluster_of_one_before_starting_anything(tmp_path: Path):
    from mr_opensearch.cluster.node import lifecycle

    state.save_cluster(three_nodes(tmp_path))
    with pytest.raises(MrosError, match="has 3 nodes, not 5; mros does not grow or shrink"):
        lifecycle.up_cluster(port=10200, nodes=5, root=tmp_path)
    other = tmp_path / "other"
    (other / "10301" / "data" / "nodes").mkdir(parents=True)
    with pytest.raises(MrosError, match="already holds the data of another node"):
        lifecycle.up_cluster(port=10300, nodes=2, root=other)
    with pytest.raises(UsageError, match="2 to 9 nodes"):
        lifecycle.up_cluster(port=10200, nodes=1, root=tmp_path)
    assert not (other / "10300" / "cluster.json").exists()


def test_a_node_state_written_before_clusters_existed_still_loads(tmp_path: Path):
    (tmp_path / "node.json").write_text(json.dumps({"port": 9200, "url": "http://127.0.0.1:9200",
                                                    "node_dir": str(tmp_path), "version": "3.5.0", "heap": "2g"}))
    node = state.load(tmp_path)
    assert isinstance(node, NodeState) and node.cluster is None


def test_the_index_layout_follows_the_cluster_and_the_catalog():
    one = index_layout(100_000, 384, 1)
    assert (one.shards, one.replicas, one.warning) == (1, 0, None)
    three = index_layout(100_000, 384, 3)
    assert (three.shards, three.replicas, three.warning) == (1, 1, None)
    assert "1 replica on 3 data nodes" in three.reason
    huge = 2 * SHARD_TARGET_BYTES // estimated_bytes(1, 384) + 1
    assert index_layout(huge, 384, 3).shards == 3
    asked = index_layout(100, 384, 3, shards=2, replicas=3)
    assert (asked.shards, asked.replicas) == (2, 3)
    assert "as asked" in asked.reason and "--replicas 2" in str(asked.warning)
    assert "--replicas 0" in str(index_layout(100, 384, 1, replicas=1).warning)


def test_several_node_urls_are_split_checked_and_deduplicated():
    assert split_urls("http://a:9200, http://b:9200/,http://a:9200") == ["http://a:9200", "http://b:9200"]
    with pytest.raises(UsageError, match="has no http:// or https:// scheme"):
        split_urls("http://a:9200,b:9200")
    with pytest.raises(UsageError, match="credentials"):
        split_urls("http://a:9200,https://u:secret@b:9200")
    with pytest.raises(UsageError, match="names no node"):
        split_urls(" , ")
    assert redact_url("http://a:9200,https://u:pw@b:9200") == "http://a:9200,https://***@b:9200"


class _Node(BaseHTTPRequestHandler):
    """One node's answers: the root and the cluster's health."""

    def do_GET(self) -> None:
        body = {"version": {"number": "3.5.0", "distribution": "opensearch"}} if self.path == "/" else \
            {"status": "green", "number_of_nodes": 2}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def live_node() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_node_that_refuses_costs_no_retry_while_another_answers(live_node: str):
    from opensearchpy import OpenSearch

    lines: list[str] = []
    policy = RetryPolicy(budget_s=30, on_retry=lines.append)
    client = OpenSearch(hosts=[closed_port(), live_node], transport_class=transport_class(), retry_policy=policy,
                        randomize_hosts=False, timeout=5)
    start = time.monotonic()
    for _ in range(6):
        assert client.cluster.health()["status"] == "green"
    assert time.monotonic() - start < 2.0
    assert lines == [] and policy.stats["retries"] == 0
    assert [c.host for c in client.transport.connection_pool.connections] == [live_node]


def test_connect_answers_through_the_second_url_when_the_first_node_is_gone(live_node: str):
    client = connect(ClusterConfig(connect_timeout=5.0), f"{closed_port()},{live_node}")
    assert client.cluster.health()["status"] == "green"


def test_a_cluster_is_ready_only_once_every_node_answers_http(live_node: str):
    """A node joins (transport) before it opens its HTTP port: green with every node is not yet ready while
    one node's URL refuses, and is as soon as that node listens (the CI saw `mros opensearch status`
    refused on a node of a cluster `up` had just called ready)."""
    late = closed_port()
    with pytest.raises(MrosError, match=f"{late} does not answer HTTP yet"):
        process.wait_cluster_ready([live_node, late], [], nodes=2, timeout=1.5)
    port = int(late.rsplit(":", 1)[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), _Node)
    timer = threading.Timer(1.0, server.serve_forever)  # bound now, answering one second into the wait
    timer.start()
    try:
        started = time.monotonic()
        health = process.wait_cluster_ready([live_node, late], [], nodes=2, timeout=30)
        assert health["status"] == "green" and 0.9 < time.monotonic() - started < 10
    finally:
        server.shutdown()
        timer.join()


def test_connect_to_nodes_that_all_refuse_says_so(tmp_path: Path):
    with pytest.raises(MrosError, match="connection refused"):
        connect(ClusterConfig(connect_timeout=3.0), f"{closed_port()},{closed_port()}")


def fake_cluster(shards: list[dict[str, str]], replicas: dict[str, int], heals: bool = False) -> Any:
    """``_cat/shards`` and ``_cat/indices`` answers; health green after a wait when it ``heals``."""
    waits: list[dict[str, Any]] = []

    def health(**params: Any) -> dict[str, Any]:
        waits.append(params)
        return {"status": "green" if heals else "yellow", "number_of_data_nodes": 2}

    return SimpleNamespace(waits=waits, cluster=SimpleNamespace(health=health), cat=SimpleNamespace(
        shards=lambda **_: shards,
        indices=lambda **_: [{"index": name, "rep": str(n)} for name, n in replicas.items()]))


def shard(index: str, prirep: str, state: str, reason: str = "") -> dict[str, str]:
    return {"index": index, "shard": "0", "prirep": prirep, "state": state, "unassigned.reason": reason}


def test_yellow_on_one_node_with_replicas_is_normal_and_only_warned_about():
    client = fake_cluster([shard("products-a", "p", "STARTED"), shard("products-a", "r", "UNASSIGNED", "INDEX_CREATED")],
                          {"products-a": 1})
    cause = yellow_cause(client, data_nodes=1)
    assert cause.unplaceable == {"products-a": 1} and not cause.degraded
    warnings = check_yellow(client, data_nodes=1)
    assert len(warnings) == 1 and "no node can hold" in warnings[0]


def test_yellow_on_three_nodes_after_a_node_left_is_refused_unless_allowed():
    client = fake_cluster([shard("products-a", "p", "STARTED"), shard("products-a", "r", "UNASSIGNED", "NODE_LEFT"),
                           shard(".mros-locks", "r", "INITIALIZING")], {"products-a": 1, ".mros-locks": 1})
    with pytest.raises(MrosError) as refused:
        check_yellow(client, data_nodes=2)
    assert client.waits == [{"wait_for_status": "green", "timeout": "20s"}]  # it waited for green first
    assert "still after 20 s" in refused.value.message
    assert "a node is missing" in refused.value.message.lower() and "NODE_LEFT" in refused.value.message
    assert "1 shard(s) are still recovering" in refused.value.message
    assert refused.value.parameters == ("allow_yellow",) and "`allow_yellow`" in str(refused.value.hint)
    warnings = check_yellow(client, data_nodes=2, allow_yellow=True)
    assert warnings and "deploying anyway" in warnings[-1]


def test_yellow_that_heals_while_the_deploy_waits_is_no_refusal():
    client = fake_cluster([shard("products-a", "r", "INITIALIZING")], {"products-a": 1}, heals=True)
    assert check_yellow(client, data_nodes=3) == [] and len(client.waits) == 1


def test_yellow_from_an_over_replicated_index_on_three_nodes_is_not_a_lost_node():
    client = fake_cluster([shard("products-b", "r", "STARTED"), shard("products-b", "r", "UNASSIGNED", "INDEX_CREATED")],
                          {"products-b": 3})
    assert check_yellow(client, data_nodes=3)[0].endswith("products-b (1)")


def test_the_search_load_reports_when_its_failures_fell():
    began = time.perf_counter()

    def one(query: str) -> None:
        elapsed = time.perf_counter() - began
        if 0.2 <= elapsed < 0.5:
            raise ConnectionError("node gone")
        time.sleep(0.01)

    report = load(one, ["a", "b"], threads=2, seconds=0.8)
    window = report["error_window"]
    assert report["errors"] > 0 and report["first_error"].startswith("ConnectionError")
    assert 0.15 <= window["first_s"] <= 0.3 and 0.4 <= window["last_s"] <= 0.55
    assert window["seconds"] == pytest.approx(window["last_s"] - window["first_s"])
    assert report["latency_ms"]["max"] >= report["latency_ms"]["p99"]
    assert load(lambda q: None, ["a"], threads=1)["error_window"] is None
