"""A real 3-node cluster (``mros opensearch up --nodes 3``) that loses a data node (SIGKILL) in the middle
of a deploy and during a search load (:mod:`tests.tools.node_loss`, also behind ``benchmarks/node_loss.py``).

The cluster runs on the HTTP ports 10200-10202 and transport ports 10300-10302 (``MROS_TEST_CLUSTER_PORT``
moves them), with its node folders in a temporary folder and 512m of heap per node; it is stopped at the
end. The deploy goes to every node's URL with one replica (what a deploy picks on several data nodes).
Checked: the deploy finishes through the retries, or stops with a message that says so and a rerun
converges; the alias is then on one complete index with every catalog product exactly once, and was
never on an incomplete index; the search load's failed queries, if any, fall in a window of a few
seconds; the killed node restarts and the cluster is green with three nodes again.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.cluster.node import lifecycle, state
from tests.json_fields import check_documented
from tests.tools import node_loss

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = int(os.environ.get("MROS_TEST_CLUSTER_PORT", "10200"))
ALIAS = "mros-test-node-loss"
COPIES = 10  # the 150 serving products 10 times over, under new ids: a deploy long enough to kill a node in
MAX_ERROR_WINDOW_S = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if os.environ.get("MROS_OPENSEARCH_URL"):
        pytest.skip("MROS_OPENSEARCH_URL is set: the node-loss tests start their own local cluster")
    root = tmp_path_factory.mktemp("cluster")
    started = lifecycle.up_cluster(port=PORT, nodes=3, heap="512m", root=root, timeout=300)
    yield started
    lifecycle.down_cluster(started)


@pytest.fixture(scope="module")
def catalog(own_serving_runs: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open(own_serving_runs.catalog, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    path = tmp_path_factory.mktemp("node-loss") / "products.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["product_uid", "product_title"])
        writer.writeheader()
        for copy in range(COPIES):
            for row in rows:  # copy 0 keeps the judged ids
                uid = row["product_uid"] if copy == 0 else f"{row['product_uid']}-{copy}"
                writer.writerow({"product_uid": uid, "product_title": row["product_title"]})
    return path


@pytest.fixture(scope="module")
def deploy_loss(cluster: Any, own_serving_runs: Any, catalog: Path,
                tmp_path_factory: pytest.TempPathFactory) -> node_loss.DeployLoss:
    return node_loss.deploy_through_node_loss(cluster, run=own_serving_runs.runs[0], catalog=catalog, alias=ALIAS,
                                              home=tmp_path_factory.mktemp("home"), kill_at=0.3, batch_size=20)


def assert_green_with_every_node(cluster: Any) -> None:
    report = lifecycle.cluster_status(cluster)
    assert report["health"] == "green" and report["number_of_nodes"] == 3
    assert [node["running"] for node in report["nodes"]] == [True, True, True]


def test_three_nodes_form_one_cluster_with_their_own_ports(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "nodes_root", lambda: Path(cluster.root))  # the CLI finds the test's cluster
    shown = CliRunner().invoke(app, ["opensearch", "status", "--port", str(PORT), "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["urls"] == cluster.urls and report["health"] == "green"
    table = CliRunner().invoke(app, ["opensearch", "status", "--port", str(PORT)]).stdout
    assert "3 of 3 nodes running" in table and f"transport {PORT + 102}" in table
    assert report["cluster"] == cluster.name and report["cluster_name"] == cluster.name
    assert [node["port"] for node in report["nodes"]] == [PORT, PORT + 1, PORT + 2]
    assert [node["transport_port"] for node in report["nodes"]] == [PORT + 100, PORT + 101, PORT + 102]
    assert len({node["pid"] for node in report["nodes"]}) == 3
    client = node_loss.client_of(cluster)
    names = {row["name"] for row in client.cat.nodes(format="json", h="name,node.role")}
    assert names == {f"mros-{port}" for port in cluster.ports}
    assert_green_with_every_node(cluster)


def test_a_deploy_that_loses_a_node_half_way_converges_with_every_product_once(
        cluster: Any, deploy_loss: node_loss.DeployLoss) -> None:
    loss = deploy_loss
    print(json.dumps(loss.to_json(), indent=1, default=str))
    assert loss.notes == [] and 0 < loss.killed_at_documents < loss.documents  # the node died mid-deploy
    first, last = loss.attempts[0], loss.attempts[-1]
    if first.exit_code != 0:  # it stopped: the message says where and that a rerun finishes it
        assert first.exit_code == 1 and "deploy stopped" in first.message and "rerun" in first.message
    assert last.exit_code == 0 and last.result is not None
    check_documented("deploy", last.result)
    if first.exit_code == 0:
        assert (last.result["shards"], last.result["replicas"]) == (1, 1)  # what it chose for 3 data nodes
    assert loss.end.converged, loss.end
    assert (loss.end.lost, loss.end.duplicated, loss.end.documents) == (0, 0, loss.documents)
    assert loss.alias_polls > 10 and loss.alias_on_incomplete == []
    # with the node still gone, the preflight sees its copies missing (a rerun then would wait, then refuse)
    assert loss.while_down["data_nodes"] == 2 and loss.while_down["status"] == "yellow"
    assert "NODE_LEFT" in loss.while_down["reasons"] and loss.end.indices[0] in loss.while_down["missing"]
    client = node_loss.client_of(cluster)
    index = loss.end.indices[0]
    settings = client.indices.get_settings(index=index)[index]["settings"]["index"]
    assert settings["number_of_replicas"] == "1" and settings["number_of_shards"] == "1"
    assert_green_with_every_node(cluster)


def test_a_search_load_that_loses_a_node_fails_no_query_outside_a_short_window(
        cluster: Any, deploy_loss: node_loss.DeployLoss, own_serving_runs: Any,
        tmp_path: Path) -> None:
    assert deploy_loss.end.converged
    loss = node_loss.search_load_through_node_loss(cluster, alias=ALIAS, judgments=own_serving_runs.judgments,
                                                   home=tmp_path, mode="hybrid", clients=4, load_seconds=10,
                                                   kill_after_s=2)
    print(json.dumps(loss.to_json(), indent=1, default=str))
    assert loss.exit_code == 0, loss.message
    assert loss.killed_after_s < loss.load_seconds and loss.requests > 50
    if loss.failed:
        assert loss.error_window is not None and loss.error_window["seconds"] <= MAX_ERROR_WINDOW_S
        assert loss.error_window["first_s"] >= loss.killed_after_s - 1.0  # nothing failed before the kill
    assert loss.failed <= 0.05 * loss.requests
    assert_green_with_every_node(cluster)
