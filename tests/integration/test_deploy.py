"""`mros deploy`, `rollback` and `status` in client mode against the real node: a deploy, the same deploy
again (nothing written), a dry run (cluster unchanged), a second run (new index, alias moved, old kept),
rollback, `--keep`, and refusals that leave the cluster as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cluster_snapshot import snapshot
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def indexing_total(client: Any, index: str) -> int:
    return client.indices.stats(index=index)["indices"][index]["primaries"]["indexing"]["index_total"]


def invoke(*args: str, home: Any = None) -> Any:
    env = {"MROS_HOME": str(home)} if home else None
    return CliRunner().invoke(app, ["--no-progress", *args], env=env)


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def deployed(opensearch_url, opensearch_client, serving_runs, tmp_path_factory) -> tuple[Any, str, Any, Any]:
    """A first client-mode deploy under an alias of this module's own (the tests below move it)."""
    alias = "mros-test-deploy"
    for name in list(opensearch_client.indices.get(index=f"{alias}-*")):
        opensearch_client.indices.delete(index=name)
    home = tmp_path_factory.mktemp("deploy-home")
    first = invoke("deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog), "--alias",
                   alias, "--url", opensearch_url, "--embedding", "client", "--json", home=home)
    assert first.exit_code == 0, first.output
    return opensearch_client, alias, serving_runs.runs[0], serving_runs.judgments


def test_first_deploy_fills_a_complete_index_behind_the_alias(deployed, serving_runs, state):
    client, alias, run, _ = deployed
    live = list(client.indices.get_alias(name=alias))
    assert len(live) == 1
    index = live[0]
    with open(serving_runs.catalog, encoding="utf-8") as fh:
        n_products = sum(1 for _ in fh) - 1
    assert client.count(index=index)["count"] == n_products
    meta = client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    package = json.loads((run / "onnx" / "ml-commons.json").read_text())
    boundaries = json.loads((run / "boundaries.json").read_text())
    assert meta["complete"] is True and meta["created_by"] == "mros" and meta["embedding"] == "client"
    assert meta["model_sha256"] == package["model_content_hash_value"]
    assert meta["boundaries"]["cosine"] == {"partial": boundaries["partial"], "exact": boundaries["exact"]}
    assert meta["boundaries"]["engine_score"]["partial"] == pytest.approx((1 + boundaries["partial"]) / 2)
    assert meta["hybrid"]["dense_lower_bound"] == pytest.approx((1 + boundaries["partial"]) / 2)
    # the served model is stored beside the user's files, and a copy of the manifest in the run
    assert (run / "deploy" / f"{index}.json").exists()
    assert json.loads((run / "deploy" / f"{index}.json").read_text())["index"] == index
    doc = client.get(index=index, id=client.search(index=index, body={"size": 1})["hits"]["hits"][0]["_id"])["_source"]
    assert set(doc) == {"product_id", "title", "embedding_text", "embedding"}
    assert len(doc["embedding"]) == meta["dimension"]
    # BM25 fields are analysed with the default english analyzer: plurals and possessives stem
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert mapping["title"] == {"type": "text", "analyzer": "english"} and meta["text_analyzer"] == "english"
    tokens = client.indices.analyze(index=index, body={"field": "title", "text": "Drills for the Plumber's pipes"})
    assert [t["token"] for t in tokens["tokens"]] == ["drill", "plumber", "pipe"]
    state["first"] = index


def test_the_same_deploy_again_writes_nothing(deployed, serving_runs, state, opensearch_url):
    client, alias, run, _ = deployed
    index = state["first"]
    before = indexing_total(client, index)
    again = invoke("deploy", "--run", str(run), "--catalog", str(serving_runs.catalog), "--alias", alias,
                   "--url", opensearch_url, "--embedding", "client", "--json")
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)
    assert out["action"] == "nothing to do" and out["index"] == index and out["written"] == 0
    assert indexing_total(client, index) == before
    assert list(client.indices.get_alias(name=alias)) == [index]


def test_dry_run_leaves_the_cluster_exactly_as_it_was(deployed, serving_runs, opensearch_url):
    client, alias, _, _ = deployed
    before = snapshot(client, "*")
    plan = invoke("deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(serving_runs.catalog), "--alias",
                  alias, "--url", opensearch_url, "--embedding", "client", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    body = json.loads(plan.stdout)
    methods = [(e["method"], e["path"]) for e in body["plan"]]
    assert methods[0][0] == "COPY"
    assert ("PUT", f"/{body['index']}") in methods and ("POST", "/_aliases") in methods
    assert snapshot(client, "*") == before
    assert not (serving_runs.runs[1] / "deploy").exists()


def test_a_second_run_gets_a_new_index_and_the_old_one_is_kept(deployed, serving_runs, state, opensearch_url):
    client, alias, _, _ = deployed
    second = invoke("deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(serving_runs.catalog), "--alias",
                    alias, "--url", opensearch_url, "--embedding", "client", "--json")
    assert second.exit_code == 0, second.output
    out = json.loads(second.stdout)
    assert out["action"] == "created" and out["index"] != state["first"]
    assert out["previous_index"] == state["first"]
    assert list(client.indices.get_alias(name=alias)) == [out["index"]]
    assert client.indices.exists(index=state["first"])
    state["second"] = out["index"]
    status = invoke("status", "--alias", alias, "--url", opensearch_url, "--json")
    assert status.exit_code == 0, status.output
    rows = {r["index"]: r for r in json.loads(status.stdout)["indices"]}
    assert rows[state["second"]]["live"] and not rows[state["first"]]["live"]
    assert all(r["complete"] for r in rows.values())


def test_rollback_restores_the_previous_index_and_keep_prunes(deployed, serving_runs, state, opensearch_url):
    client, alias, _, _ = deployed
    back = invoke("rollback", "--alias", alias, "--url", opensearch_url, "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["to"] == state["first"]
    assert list(client.indices.get_alias(name=alias)) == [state["first"]]
    # deploying the second run again only moves the alias back: its index is complete
    before = indexing_total(client, state["second"])
    again = invoke("deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(serving_runs.catalog), "--alias",
                   alias, "--url", opensearch_url, "--embedding", "client", "--keep", "1", "--json")
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)
    assert out["index"] == state["second"] and out["written"] == 0
    assert indexing_total(client, state["second"]) == before
    assert out["pruned"] == [state["first"]]
    assert not client.indices.exists(index=state["first"])
    assert list(client.indices.get_alias(name=alias)) == [state["second"]]
    nothing_left = invoke("rollback", "--alias", alias, "--url", opensearch_url)
    assert nothing_left.exit_code == 1 and "no earlier complete index" in nothing_left.output


def test_refusals_leave_the_cluster_unchanged(opensearch_client, serving_runs, opensearch_url):
    client = opensearch_client
    client.indices.create(index="not-mros-made", body={"settings": {"number_of_replicas": 0}})
    client.indices.put_alias(index="not-mros-made", name="mros-test-foreign")
    try:
        before = snapshot(client, "*")
        foreign = invoke("deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog),
                         "--alias", "mros-test-foreign", "--url", opensearch_url)
        assert foreign.exit_code == 1 and "did not create" in foreign.output
        bad_name = invoke("deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog),
                          "--alias", "Bad*Alias", "--url", opensearch_url)
        assert bad_name.exit_code == 2 and "invalid alias name" in bad_name.output
        engine = invoke("deploy", "--run", str(serving_runs.runs[0]), "--catalog", str(serving_runs.catalog),
                        "--alias", "mros-test-engine", "--url", opensearch_url, "--embedding", "engine")
        if "opensearch-ml" not in {r["component"] for r in client.cat.plugins(format="json")}:
            assert engine.exit_code == 1 and "--embedding engine needs" in engine.output
        assert snapshot(client, "*") == before
    finally:
        client.indices.delete(index="not-mros-made")
