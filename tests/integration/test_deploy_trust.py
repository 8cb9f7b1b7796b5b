"""What a new user hit in deploy, search, eval and rollback (issue #30), on the real node: each test
failed before its fix. Client mode, one alias of this module's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from catalog_files import catalog_rows, write_catalog
from cluster_snapshot import snapshot
from json_fields import check_documented
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def serving_runs(own_serving_runs):
    """This module deploys the runs: copies, so the session's runs stay as other modules expect them."""
    return own_serving_runs


ALIAS = "mros-test-trust"


def invoke(home: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--no-progress", *args], env={"MROS_HOME": str(home)})


def indexing_total(client: Any, index: str) -> int:
    return client.indices.stats(index=index)["indices"][index]["primaries"]["indexing"]["index_total"]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trust-home")


@pytest.fixture(scope="module")
def first(opensearch_url, opensearch_client, serving_runs, home) -> dict[str, Any]:
    for name in list(opensearch_client.indices.get(index=f"{ALIAS}-*")):
        opensearch_client.indices.delete(index=name)
    out = invoke(home, "deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog),
                 "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    check_documented("deploy", payload)
    return payload






def test_the_manifest_records_the_model_file(first, opensearch_client, serving_runs, home):
    from mr_opensearch.search.served_model import client_variant, for_client, load_run

    meta = opensearch_client.indices.get_mapping(index=first["index"])[first["index"]]["mappings"]["_meta"]
    packaged = load_run(serving_runs.runs[0])
    served = for_client(packaged, client_variant(packaged)[0])  # the variant client mode embeds with
    assert meta["onnx_sha256"] == served.onnx_sha256 and meta["encoder_variant"] == served.variant
    assert meta["model_dir"] == str(home / "models" / served.served_key)


def test_searching_with_another_model_of_the_same_dimension_is_refused(first, opensearch_url, serving_runs, home):
    same = invoke(home, "search", "drill", "--alias", ALIAS, "--mode", "dense", "--url", opensearch_url,
                  "--run", str(serving_runs.runs[0]))
    assert same.exit_code == 0, same.output
    other = invoke(home, "search", "drill", "--alias", ALIAS, "--mode", "dense", "--url", opensearch_url,
                   "--run", str(serving_runs.runs[1]))
    assert other.exit_code == 1 and f"is not the model index {first['index']} was built with" in other.output


def test_a_catalog_that_drops_most_products_is_refused(first, opensearch_client, opensearch_url, serving_runs, home,
                                                       tmp_path):
    tiny = write_catalog(tmp_path / "one.csv", catalog_rows(serving_runs.catalog)[:1])
    before = snapshot(opensearch_client, "*")
    refused = invoke(home, "deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(tiny), "--alias", ALIAS,
                     "--url", opensearch_url, "--embedding", "client")
    assert refused.exit_code == 1
    assert f"leaves out 149 of the 150 products of the live index {first['index']}" in refused.output
    assert "--allow-shrink" in refused.output
    assert snapshot(opensearch_client, "*") == before
    # a small change (5 of 150 products gone, 3%) is an ordinary deploy
    fewer = write_catalog(tmp_path / "fewer.csv", catalog_rows(serving_runs.catalog)[5:])
    dry = invoke(home, "deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(fewer), "--alias", ALIAS,
                 "--url", opensearch_url, "--embedding", "client", "--dry-run")
    assert dry.exit_code == 0, dry.output


def test_an_id_the_cluster_would_refuse_is_refused_before_anything_is_written(first, opensearch_client,
                                                                              opensearch_url, serving_runs, home,
                                                                              tmp_path):
    bad = write_catalog(tmp_path / "long-id.csv", [*catalog_rows(serving_runs.catalog)[:3], ("x" * 600, "a long-id drill")])
    before = snapshot(opensearch_client, "*")
    refused = invoke(home, "deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(bad), "--alias",
                     "mros-test-long-id", "--url", opensearch_url, "--embedding", "client")
    assert refused.exit_code == 1 and "is 600 bytes long" in refused.output
    assert snapshot(opensearch_client, "*") == before


def test_new_hybrid_settings_go_live_without_reindexing(first, opensearch_client, opensearch_url, serving_runs, home):
    index = first["index"]
    before = indexing_total(opensearch_client, index)
    tuned = home / "tuning" / f"{ALIAS}.json"
    tuned.parent.mkdir(parents=True, exist_ok=True)
    settings = {**first["manifest"]["hybrid"], "weights": [0.7, 0.3]}
    tuned.write_text(json.dumps({"best": {"settings": settings}}))
    try:
        again = invoke(home, "deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog),
                       "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--json")
    finally:
        tuned.unlink()
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)
    assert out["index"] == index and out["written"] == 0 and "hybrid settings updated" in out["action"]
    meta = opensearch_client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    assert meta["hybrid"]["weights"] == [0.7, 0.3]
    assert indexing_total(opensearch_client, index) == before
    found = invoke(home, "search", "drill", "--alias", ALIAS, "--mode", "hybrid", "--url", opensearch_url, "--json")
    assert json.loads(found.stdout)["settings"]["weights"] == [0.7, 0.3]
    check_documented("search", json.loads(found.stdout), optional=("requests",))


def test_rollback_twice_goes_two_deploys_back(first, opensearch_client, opensearch_url, serving_runs, home, tmp_path):
    fewer = write_catalog(tmp_path / "fewer.csv", catalog_rows(serving_runs.catalog)[3:])
    second = invoke(home, "deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(serving_runs.catalog),
                    "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--json")
    third = invoke(home, "deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(fewer),
                   "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--json")
    assert second.exit_code == 0 and third.exit_code == 0, second.output + third.output
    chain = [first["index"], json.loads(second.stdout)["index"], json.loads(third.stdout)["index"]]
    assert len(set(chain)) == 3
    rollbacks = [json.loads(invoke(home, "rollback", "--alias", ALIAS, "--url", opensearch_url, "--json").stdout)
                 for _ in range(2)]
    assert [r["to"] for r in rollbacks] == [chain[1], chain[0]]
    check_documented("rollback", rollbacks[0])
    assert list(opensearch_client.indices.get_alias(name=ALIAS)) == [chain[0]]


def test_a_run_whose_model_was_replaced_after_export_is_not_deployed(opensearch_client, opensearch_url, serving_runs,
                                                                     home, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(serving_runs.runs[0], run)
    shutil.copyfile(serving_runs.runs[1] / "onnx" / "int8" / "model.onnx", run / "onnx" / "int8" / "model.onnx")
    before = snapshot(opensearch_client, "*")
    refused = invoke(home, "deploy", "--run", str(run), "--catalog", str(serving_runs.catalog), "--alias",
                     "mros-test-replaced", "--url", opensearch_url, "--embedding", "client")
    assert refused.exit_code == 1 and "the model was replaced after export" in refused.output
    assert f"mros export --run {run}" in refused.output
    assert snapshot(opensearch_client, "*") == before


def test_status_lists_the_incomplete_index_a_killed_deploy_left_and_prune_removes_it(first, opensearch_client,
                                                                                     opensearch_url, serving_runs,
                                                                                     home, tmp_path):
    import os
    import subprocess
    import sys

    alias = "mros-test-prune"
    for name in list(opensearch_client.indices.get(index=f"{alias}-*")):
        opensearch_client.indices.delete(index=name)
    base = ["--no-progress", "deploy", "--catalog", str(serving_runs.catalog), "--alias", alias, "--url",
            opensearch_url, "--embedding", "client"]
    assert invoke(home, *base, "--run", str(serving_runs.runs[0])).exit_code == 0
    killed = subprocess.run([sys.executable, "-m", "mr_opensearch", *base, "--run", str(serving_runs.runs[1])],
                            env={**os.environ, "MROS_HOME": str(home), "MROS_FAULT_KILL_AT": "bulk-middle"},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode != 0
    status = json.loads(invoke(home, "status", "--alias", alias, "--url", opensearch_url, "--json").stdout)
    check_documented("status", status)
    assert len(status["incomplete"]) == 1 and status["incomplete"][0] not in status["live"]
    human = invoke(home, "status", "--alias", alias, "--url", opensearch_url)
    assert "INCOMPLETE" in human.output and f"mros prune --alias {alias}" in human.output
    assert "model " in human.output
    dry = json.loads(invoke(home, "prune", "--alias", alias, "--url", opensearch_url, "--dry-run", "--json").stdout)
    check_documented("prune", dry)
    assert dry["deleted"] == status["incomplete"] and opensearch_client.indices.exists(index=dry["deleted"][0])
    pruned = json.loads(invoke(home, "prune", "--alias", alias, "--url", opensearch_url, "--json").stdout)
    assert pruned["deleted"] == status["incomplete"] and not opensearch_client.indices.exists(index=pruned["deleted"][0])
    assert json.loads(invoke(home, "status", "--alias", alias, "--url", opensearch_url, "--json").stdout)["incomplete"] == []
    assert list(opensearch_client.indices.get_alias(name=alias)) == status["live"]


def test_replicas_a_single_node_cannot_assign_are_warned_about(first, opensearch_url, serving_runs, home, tmp_path):
    catalog = write_catalog(tmp_path / "other.csv", catalog_rows(serving_runs.catalog)[2:])  # a new index, not one made before
    dry = invoke(home, "deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(catalog),
                 "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--replicas", "1", "--dry-run",
                 "--json")
    assert dry.exit_code == 0, dry.output
    out = json.loads(dry.stdout)
    assert out["dry_run"] is True and out["action"] == "would be created"
    assert any("the cluster turns yellow" in w for w in out["warnings"])


def test_eval_reports_grade_metrics_and_a_page_and_refuses_judgments_of_another_catalog(first, opensearch_url,
                                                                                       serving_runs, home, tmp_path):
    page = tmp_path / "eval.html"
    out = invoke(home, "eval", "--alias", ALIAS, "--judgments", str(serving_runs.judgments), "--modes", "bm25,dense",
                 "--clients", "1", "--url", opensearch_url, "--html", str(page), "--json")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)["eval"]
    assert report["coverage"]["product_coverage"] > 0.9
    for mode in ("bm25", "dense"):
        quality = report["modes"][mode]["quality"]
        assert 0 <= quality["exact_precision@10"] <= 1 and 0 <= quality["irrelevant_rate@10"] <= 1
        assert 0 <= quality["no_exact@10"] <= 1
        assert sum(report["modes"][mode]["score_distribution"]["hits"].values()) > 0
    text = page.read_text()
    assert text.count("<svg") == 2 and "exact precision@10" in text
    other = tmp_path / "other.csv"
    other.write_text("query,product_uid,relevance\ndrill,nope-1,3\nsaw,nope-2,2\n", encoding="utf-8")
    refused = invoke(home, "eval", "--alias", ALIAS, "--judgments", str(other), "--tune", "--url", opensearch_url)
    assert refused.exit_code == 1 and "the judgments match nothing in the index" in refused.output
    assert not (home / "tuning" / f"{ALIAS}.json").exists()
