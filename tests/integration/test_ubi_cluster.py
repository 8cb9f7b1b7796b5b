"""UBI and SRW against the real local node: the simulator's events indexed under the published UBI mappings
(no UBI plugin), the audit reading them back from the cluster, a dynamically mapped ubi_events refused, and
SRW requests answered with a clear error (the local node has no SRW plugin)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.core.errors import MrosError

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, opensearch_client, opensearch_url):
    """The test scenario: 40 queries x 8 products, 300 searches per query, 10% of the labels corrupted; half the
    searches carry user_query on their events (the others only on ubi_queries). Indexed into ubi_events /
    ubi_queries, recreated with the published mappings."""
    root = tmp_path_factory.mktemp("ubi")
    rng = np.random.default_rng(0)
    rows = [(f"query {q}", f"p{q}-{j}", int(g)) for q in range(40)
            for j, g in enumerate(rng.choice(3, size=8, p=[0.3, 0.35, 0.35]))]
    truth = pd.DataFrame(rows, columns=["query", "product_uid", "grade"])
    truth.to_csv(root / "truth.csv", index=False)
    pd.DataFrame({"product_uid": truth["product_uid"], "product_title": "product " + truth["product_uid"]}).to_csv(
        root / "products.csv", index=False)
    result = runner.invoke(app, ["label", "simulate-engagement", "--labels", str(root / "truth.csv"), "--catalog",
                                 str(root / "products.csv"), "--format", "ubi", "--out", str(root / "ubi"),
                                 "--noise", "0.1", "--noisy-out", str(root / "noisy.csv"), "--sessions-mean", "300",
                                 "--sessions-sigma", "0", "--user-query-on-events", "0.5", "--seed", "2",
                                 "--index-url", opensearch_url, "--replace-indices", "--json"])
    assert result.exit_code == 0, result.output
    yield root, json.loads(result.stdout)
    for index in ("ubi_events", "ubi_queries"):
        opensearch_client.indices.delete(index=index, ignore_unavailable=True)


def test_simulated_events_are_indexed_with_the_published_mappings(scenario, opensearch_client):
    _root, summary = scenario
    assert summary["indexed"]["indices"] == {"ubi_queries": "created", "ubi_events": "created"}
    assert summary["indexed"]["documents"] == {"ubi_queries": summary["searches"], "ubi_events": summary["event_count"]}
    assert opensearch_client.count(index="ubi_events")["count"] == summary["event_count"]
    events = opensearch_client.indices.get_mapping(index="ubi_events")["ubi_events"]["mappings"]
    queries = opensearch_client.indices.get_mapping(index="ubi_queries")["ubi_queries"]["mappings"]
    assert events["properties"]["action_name"] == {"type": "keyword", "ignore_above": 100}
    assert events["properties"]["user_query"] == {"type": "keyword"}
    assert events["properties"]["timestamp"]["format"] == "strict_date_time"
    assert events["properties"]["event_attributes"]["properties"]["position"]["properties"]["ordinal"] == {"type": "integer"}
    assert queries["dynamic"] == "false" and queries["properties"]["query_attributes"] == {"type": "flat_object"}
    # every timestamp was parsed as a date (ignore_malformed would have dropped bad ones silently)
    stamped = opensearch_client.count(index="ubi_events", body={"query": {"exists": {"field": "timestamp"}}})["count"]
    assert stamped == summary["event_count"]
    # SRW's terms aggregation on action_name works on this mapping
    aggs = opensearch_client.search(index="ubi_events", body={"size": 0, "aggs": {"a": {"terms": {"field": "action_name"}}}})
    names = {b["key"]: b["doc_count"] for b in aggs["aggregations"]["a"]["buckets"]}
    assert names["impression"] == summary["impressions"] and names["click"] == summary["clicks"]


def test_audit_from_the_cluster_finds_the_planted_noise(scenario, opensearch_url):
    root, _ = scenario
    result = runner.invoke(app, ["label", "audit", "--labels", str(root / "noisy.csv"), "--catalog",
                                 str(root / "products.csv"), "--ubi", opensearch_url, "--out", str(root / "audited.csv"),
                                 "--truth", str(root / "noisy.truth.csv"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    recovery = report["recovery"]
    print(f"\nplanted-noise recovery at the default thresholds: precision {recovery['flag_precision']:.3f}, "
          f"recall {recovery['flag_recall']:.3f} ({recovery['errors_flagged']} of {recovery['errors_before']} "
          f"corrupted labels flagged, {report['flagged']} flags)")
    assert recovery["flag_precision"] >= 0.8 and recovery["flag_recall"] >= 0.8
    assert report["ubi"]["skipped_total"] == 0 and report["config"]["estimator"] == "coec_srw"
    # the cluster and the NDJSON files give the same audit
    again = runner.invoke(app, ["label", "audit", "--labels", str(root / "noisy.csv"), "--catalog",
                                str(root / "products.csv"), "--ubi", str(root / "ubi"),
                                "--out", str(root / "audited-files.csv"), "--json"])
    assert again.exit_code == 0, again.output
    assert pd.read_csv(root / "audited.csv").equals(pd.read_csv(root / "audited-files.csv"))


def test_coec_from_the_cluster_equals_coec_from_the_files(scenario, opensearch_client):
    from trainer.labeler.ubi import load_ubi, srw_coec

    root, _ = scenario
    from_cluster = load_ubi("cluster", client=opensearch_client)
    from_files = load_ubi(root / "ubi")
    assert srw_coec(from_cluster.events) == srw_coec(from_files.events)
    # SRW itself skips the events without their own user_query: fewer pairs' events, same ctr
    strict = srw_coec(from_cluster.events, join_queries=False)
    assert set(strict) == set(srw_coec(from_cluster.events))  # every query has some searches with it on events


def test_a_dynamically_mapped_events_index_is_refused(opensearch_client):
    from trainer.labeler.ubi import cluster_documents

    index = "mros-test-ubi-events-dynamic"
    opensearch_client.indices.delete(index=index, ignore_unavailable=True)
    opensearch_client.index(index=index, body={"action_name": "click", "timestamp": "2026-02-01T10:00:00Z",
                                               "event_attributes": {"object": {"object_id": "p1"},
                                                                    "position": {"ordinal": 0}}}, refresh=True)
    try:
        with pytest.raises(MrosError, match="action_name is mapped as 'text'"):
            cluster_documents(opensearch_client, events_index=index)
    finally:
        opensearch_client.indices.delete(index=index, ignore_unavailable=True)


def test_srw_requests_on_a_node_without_the_plugin(tmp_path, opensearch_url, installed_plugins):
    if "opensearch-search-relevance" in installed_plugins:
        pytest.skip("this node has SRW: the missing-plugin error can not be shown")
    labels = tmp_path / "labels.csv"
    labels.write_text("query,product_uid,grade\nred shoes,SKU-42,2\n", encoding="utf-8")
    result = runner.invoke(app, ["label", "export", "--labels", str(labels), "--format", "srw", "--out",
                                 str(tmp_path / "srw"), "--put", "--url", opensearch_url])
    assert result.exit_code == 1 and "no Search Relevance Workbench" in result.output
    assert (tmp_path / "srw" / "judgments.json").exists()  # the files are written before the upload
    result = runner.invoke(app, ["eval", "--alias", "any", "--judgments", "srw:j-1", "--url", opensearch_url])
    assert result.exit_code == 1 and "no Search Relevance Workbench" in result.output
    # and the REST path itself answers "no handler", which mros turns into the same error
    from mr_opensearch.cluster.connection import ClusterConfig, connect
    from mr_opensearch.search.srw import _request

    with pytest.raises(MrosError, match="no Search Relevance Workbench"):
        _request(connect(ClusterConfig(url=opensearch_url)), "GET", "/_plugins/_search_relevance/judgments/j-1")
