"""Faults between mros and the real node: ``mros deploy``, ``search`` and ``eval`` through the fault proxy
(``tests/tools/fault_proxy.py``), which forwards to the test node and answers a seeded share of the
requests with 429 / 503 (with ``Retry-After``), resets before or after forwarding, slow answers, and
bulk answers with some items rejected 429.

* a deploy at 10% of each fault converges: the alias on a complete index holding every product once;
  lost answers of the create, a bulk, the completion mark and the alias move are resent safely;
* per-item 429s inside a bulk answer are resent by ``streaming_bulk``;
* ``Retry-After`` is waited (timing, with a tolerance), and one beyond the budget gives up at once;
* the node really restarted in the middle of a deploy: the deploy waits for it and converges;
* the cluster answering 503 to everything mid-deploy: exit 1 with a message that says where the deploy
  stopped and what is done, the index is not marked complete, the alias is not moved; a rerun finishes it;
* search answers the same hits through faults as without them, eval still measures every mode.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from tests.tools.fault_proxy import FaultProxy, FaultRates

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 19
BATCH = "25"  # 150 products: 6 bulk requests per deploy


@pytest.fixture
def upstream_port(opensearch_url: str) -> int:
    parsed = urlparse(opensearch_url)
    if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
        pytest.skip(f"the fault proxy speaks plain HTTP to a local node; the test cluster is {opensearch_url}")
    return int(parsed.port or 9200)


@pytest.fixture
def proxy(upstream_port: int) -> Any:
    with FaultProxy(upstream_port, seed=SEED) as running:
        yield running


def invoke(*args: str, home: Any) -> Any:
    return CliRunner().invoke(app, ["--no-progress", *args], env={"MROS_HOME": str(home)})


def deploy_args(serving_runs: Any, alias: str, url: str, *extra: str) -> list[str]:
    return ["deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog), "--alias", alias,
            "--url", url, "--embedding", "client", "--batch-size", BATCH, "--json", *extra]


def clean(client: Any, alias: str) -> None:
    for name in list(client.indices.get(index=f"{alias}-*")):
        client.indices.delete(index=name)


def catalog_ids(serving_runs: Any) -> set[str]:
    from mr_opensearch.core.catalog import read_catalog

    return set(read_catalog(serving_runs.catalog).ids)


def assert_converged(client: Any, alias: str, ids: set[str]) -> str:
    """The alias on one complete index that holds every product once; returns the index."""
    live = list(client.indices.get_alias(name=alias))
    assert len(live) == 1
    index = live[0]
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == len(ids)
    hits = client.search(index=index, body={"size": len(ids) + 10, "_source": ["product_id"],
                                            "query": {"match_all": {}}})["hits"]["hits"]
    found = [h["_source"]["product_id"] for h in hits]
    assert len(found) == len(set(found)) and set(found) == ids
    assert all(h["_id"] == h["_source"]["product_id"] for h in hits)
    meta = client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    assert meta["complete"] is True and meta["documents"] == len(ids)
    return index


def test_deploy_converges_at_ten_percent_of_each_fault(opensearch_client, serving_runs, proxy, tmp_path):
    alias = "mros-test-faults"
    clean(opensearch_client, alias)
    ids = catalog_ids(serving_runs)
    proxy.set_rates(FaultRates.each(0.10, retry_after_s=0.2, slow_s=0.3, max_in_a_row=3))
    # lost answers of requests that were carried out: each is resent and must not break or duplicate anything
    proxy.force("reset_after_forward", match=rf"^PUT /{alias}-[^/?]+$")          # the index create
    proxy.force("reset_after_forward", match=r"^POST /_bulk", times=2)           # two whole bulks
    proxy.force("reset_after_forward", match=rf"^PUT /{alias}-[^/]+/_mapping")   # the completion mark
    proxy.force("reset_after_forward", match=r"^POST /_aliases")                 # the alias move
    start = time.monotonic()
    outcome = invoke(*deploy_args(serving_runs, alias, proxy.url, "--retry-budget", "60"), home=tmp_path)
    elapsed = time.monotonic() - start
    assert outcome.exit_code == 0, outcome.output
    out = json.loads(outcome.stdout)
    assert out["action"] == "created" and out["documents"] == len(ids)
    index = assert_converged(opensearch_client, alias, ids)
    assert index == out["index"]
    # every kind of fault happened, and the forced ones hit what they were meant to
    for fault in ("429", "503", "reset", "reset_after_forward", "slow"):
        assert proxy.stats[fault] > 0, proxy.stats
    assert proxy.faults_of(rf"^PUT /{alias}-[^/?]+$")[0] == "reset_after_forward"
    assert proxy.faults_of(r"^POST /_aliases")[0] == "reset_after_forward"
    assert proxy.faults_of(r"^POST /_bulk")[:2] == ["reset_after_forward"] * 2
    # the resent bulks overwrote their documents (version 2), they did not add new ones
    versions = [h["_version"] for h in opensearch_client.search(
        index=index, body={"size": 200, "version": True, "query": {"match_all": {}}})["hits"]["hits"]]
    assert sum(1 for v in versions if v >= 2) >= int(BATCH)
    assert "retry: " in outcome.stderr  # each retry was announced
    print(f"deploy through faults: {elapsed:.1f} s, proxy {dict(proxy.stats)}")


def test_per_item_429s_in_bulk_answers_are_resent(opensearch_client, serving_runs, proxy, tmp_path):
    """A node with a full write queue answers a bulk 200 with some items 429: ``helpers.streaming_bulk``
    resends those items (its own per-item retries, kept under the transport's policy)."""
    alias = "mros-test-faults-items"
    clean(opensearch_client, alias)
    ids = catalog_ids(serving_runs)
    proxy.force("bulk_item_429", match=r"^POST /_bulk", times=3)
    outcome = invoke(*deploy_args(serving_runs, alias, proxy.url), home=tmp_path)
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout)["written"] == len(ids)
    assert proxy.stats["bulk_items_rejected"] > 0
    batches = -(-len(ids) // int(BATCH))
    assert len(proxy.faults_of(r"^POST /_bulk")) > batches  # the rejected items went out again
    assert_converged(opensearch_client, alias, ids)


def test_retry_after_is_honoured_and_one_beyond_the_budget_gives_up_at_once(opensearch_client, proxy):
    from mr_opensearch.cluster.connection import ClusterConfig, connect
    from mr_opensearch.cluster.retry_policy import RetriesExhausted

    client = connect(ClusterConfig(retry_budget_s=30), proxy.url)
    expected = opensearch_client.count()["count"]  # straight to the node, not through the proxy
    proxy.force("503", match=r"/_count", retry_after_s=2)
    start = time.monotonic()
    assert client.count()["count"] == expected
    waited = time.monotonic() - start
    assert 2.0 <= waited < 3.5, waited  # the backoff alone would be 0.5 to 1.0 s
    assert proxy.faults_of(r"/_count") == ["503", "none"]

    client = connect(ClusterConfig(retry_budget_s=5), proxy.url)
    proxy.force("429", match=r"/_count", retry_after_s=60)
    start = time.monotonic()
    with pytest.raises(RetriesExhausted) as info:
        client.count()
    assert time.monotonic() - start < 2.0
    assert "asked to wait 60 s (Retry-After), more than the" in info.value.message
    assert "of the 5 s retry budget" in info.value.message


def test_deploy_converges_across_a_real_node_restart(opensearch_client, serving_runs, proxy, upstream_port, tmp_path):
    import os

    if os.environ.get("MROS_OPENSEARCH_URL"):
        pytest.skip("restarts only a node this test session manages (MROS_OPENSEARCH_URL is set)")
    from mr_opensearch.cluster.node import lifecycle

    heap = os.environ.get("MROS_TEST_OPENSEARCH_HEAP", "1g")  # as the session's node (conftest.py)

    alias = "mros-test-faults-restart"
    clean(opensearch_client, alias)
    ids = catalog_ids(serving_runs)
    restart: dict[str, Any] = {}

    def restart_node() -> None:
        started = time.monotonic()
        try:
            lifecycle.down(port=upstream_port)
            restart["down_s"] = time.monotonic() - started
            lifecycle.up(port=upstream_port, heap=heap, timeout=300)
            restart["up_s"] = time.monotonic() - started
        except BaseException as exc:  # reported by the test below
            restart["error"] = exc

    bulks = {"n": 0}

    def on_request(method: str, path: str) -> None:
        if method == "POST" and path.startswith("/_bulk"):
            bulks["n"] += 1
            if bulks["n"] == 3:  # two batches in, then the node goes away
                restart["thread"] = threading.Thread(target=restart_node, name="restart-node")
                restart["thread"].start()
                time.sleep(1.0)  # let the shutdown begin before this bulk is forwarded

    proxy.on_request = on_request
    outcome = invoke(*deploy_args(serving_runs, alias, proxy.url, "--retry-budget", "300"), home=tmp_path)
    restart["thread"].join(timeout=360)
    assert "error" not in restart, restart.get("error")
    assert outcome.exit_code == 0, outcome.output
    assert proxy.stats["upstream_down"] > 0  # the deploy really met the node down
    assert "retry: " in outcome.stderr
    assert_converged(opensearch_client, alias, ids)
    print(f"node restart: down in {restart['down_s']:.1f} s, up again after {restart['up_s']:.1f} s; "
          f"proxy {dict(proxy.stats)}")


def test_budget_exhausted_mid_deploy_is_a_clear_error_and_a_rerun_finishes(opensearch_client, serving_runs, proxy,
                                                                           tmp_path):
    alias = "mros-test-faults-budget"
    clean(opensearch_client, alias)
    ids = catalog_ids(serving_runs)
    bulks = {"n": 0}

    def on_request(method: str, path: str) -> None:
        if method == "POST" and path.startswith("/_bulk"):
            bulks["n"] += 1
            if bulks["n"] == 3:  # two batches in, then the cluster refuses everything
                proxy.set_rates(FaultRates(status_503=1.0, retry_after_s=None))

    proxy.on_request = on_request
    start = time.monotonic()
    failed = invoke(*deploy_args(serving_runs, alias, proxy.url, "--retry-budget", "3"), home=tmp_path)
    elapsed = time.monotonic() - start
    assert failed.exit_code == 1, failed.output
    message = failed.stderr
    assert "deploy stopped while index documents" in message
    assert "POST /_bulk: 503" in message and "gave up because" in message
    assert f"got 50 of {len(ids)} documents in this deploy" in message
    assert "it is incomplete (_meta.complete is false)" in message
    assert f"the alias {alias} was not moved" in message
    assert "rerun the same deploy" in message
    assert "Traceback" not in failed.output
    assert elapsed < 30
    (index,) = list(opensearch_client.indices.get(index=f"{alias}-*"))
    meta = opensearch_client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    assert meta["complete"] is False
    assert not opensearch_client.indices.exists_alias(name=alias)

    proxy.on_request = None
    proxy.set_rates(FaultRates())
    rerun = invoke(*deploy_args(serving_runs, alias, proxy.url), home=tmp_path)
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["action"] == "resumed"
    assert assert_converged(opensearch_client, alias, ids) == index


def test_search_and_eval_answer_through_faults(opensearch_url, deployed_alias, proxy, tmp_path):
    _client, alias, _run, judgments = deployed_alias
    query = "stainless steel kitchen sink"
    for mode in ("bm25", "dense", "hybrid"):
        args = ["search", query, "--alias", alias, "--mode", mode, "--k", "5", "--json"]
        direct = invoke(*args, "--url", opensearch_url, home=tmp_path)
        assert direct.exit_code == 0, direct.output
        proxy.set_rates(FaultRates.each(0.15, retry_after_s=0.2, slow_s=0.2, max_in_a_row=2))
        proxy.force("reset", match=r"_search|_msearch")
        faulty = invoke(*args, "--url", proxy.url, home=tmp_path)
        proxy.set_rates(FaultRates())
        assert faulty.exit_code == 0, faulty.output
        hits = [(h["product_id"], round(h["score"], 5)) for h in json.loads(faulty.stdout)["hits"]]
        assert hits and hits == [(h["product_id"], round(h["score"], 5)) for h in json.loads(direct.stdout)["hits"]]
    eval_args = ["eval", "--alias", alias, "--judgments", str(judgments), "--max-queries", "5", "--clients", "1,2", "--json"]
    direct_report = invoke(*eval_args, "--url", opensearch_url, home=tmp_path)
    assert direct_report.exit_code == 0, direct_report.output
    proxy.set_rates(FaultRates.each(0.02, retry_after_s=0.2, slow_s=0.2, max_in_a_row=2))
    report = invoke(*eval_args, "--url", proxy.url, home=tmp_path)
    assert report.exit_code == 0, report.output
    modes = json.loads(report.stdout)["eval"]["modes"]
    assert set(modes) == {"bm25", "dense", "hybrid"}
    # retried requests answer what a fault-free run answers: the same quality, mode by mode
    direct_modes = json.loads(direct_report.stdout)["eval"]["modes"]
    for mode, block in modes.items():
        assert block["quality"] == pytest.approx(direct_modes[mode]["quality"]), mode
    assert proxy.stats["requests"] - proxy.stats["none"] > 0  # faults were met
