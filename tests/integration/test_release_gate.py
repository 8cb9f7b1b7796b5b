"""``mros deploy --gate`` on the real node (issue #32): a deliberately worse index (titles shuffled between
products) is refused with the alias unchanged and the index kept; an equal one goes live; both records
are in the manifest."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from catalog_files import catalog_rows, write_catalog
from json_fields import check_documented
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def serving_runs(own_serving_runs):
    """This module deploys the runs: copies, so the session's runs stay as other modules expect them."""
    return own_serving_runs


ALIAS = "mros-test-gate"


def invoke(home: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--no-progress", *args], env={"MROS_HOME": str(home)})






def test_the_gate_refuses_a_worse_index_and_lets_an_equal_one_go_live(opensearch_url, opensearch_client, serving_runs,
                                                                      tmp_path):
    home = tmp_path / "home"
    for name in list(opensearch_client.indices.get(index=f"{ALIAS}-*")):
        opensearch_client.indices.delete(index=name)
    base = ["deploy", "--run", str(serving_runs.runs[0]), "--alias", ALIAS, "--url", opensearch_url, "--embedding",
            "client"]
    first = invoke(home, *base, "--catalog", str(serving_runs.catalog), "--json")
    assert first.exit_code == 0, first.output
    live = json.loads(first.stdout)["index"]

    rows = catalog_rows(serving_runs.catalog)
    titles = [title for _, title in rows]
    random.Random(7).shuffle(titles)
    shuffled = write_catalog(tmp_path / "shuffled.csv", [(pid, title) for (pid, _), title in zip(rows, titles, strict=True)])
    refused = invoke(home, *base, "--catalog", str(shuffled), "--gate", str(serving_runs.judgments))
    assert refused.exit_code == 1, refused.output
    assert "release gate (hybrid" in refused.output and ": refused" in refused.output
    assert f"The alias stays on {live}" in refused.output and "--max-drop" in refused.output
    assert list(opensearch_client.indices.get_alias(name=ALIAS)) == [live]
    worse = [name for name in opensearch_client.indices.get(index=f"{ALIAS}-*") if name != live]
    assert len(worse) == 1
    meta = opensearch_client.indices.get_mapping(index=worse[0])[worse[0]]["mappings"]["_meta"]
    assert meta["complete"] is True and meta["gate"]["passed"] is False
    assert meta["gate"]["new"]["ndcg@10"] < meta["gate"]["live"]["ndcg@10"] - 0.01

    reordered = write_catalog(tmp_path / "reordered.csv", list(reversed(rows)))  # the same products: an equal index
    passed = invoke(home, *base, "--catalog", str(reordered), "--gate", str(serving_runs.judgments), "--json")
    assert passed.exit_code == 0, passed.output
    out = json.loads(passed.stdout)
    check_documented("deploy", out)
    assert out["gate"]["passed"] is True and out["gate"]["live"]["index"] == live
    assert abs(out["gate"]["ndcg_drop"]) <= 0.01
    assert list(opensearch_client.indices.get_alias(name=ALIAS)) == [out["index"]]
    meta = opensearch_client.indices.get_mapping(index=out["index"])[out["index"]]["mappings"]["_meta"]
    assert meta["gate"]["passed"] is True and meta["gate"]["new"]["index"] == out["index"]


def test_gate_judgments_of_another_catalog_are_refused(opensearch_url, opensearch_client, serving_runs, tmp_path):
    home = tmp_path / "home"
    other = tmp_path / "other.csv"
    other.write_text("query,product_uid,relevance\ndrill,nope-1,3\n", encoding="utf-8")
    out = invoke(home, "deploy", "--run", str(serving_runs.runs[1]), "--catalog", str(serving_runs.catalog),
                 "--alias", "mros-test-gate-other", "--url", opensearch_url, "--embedding", "client",
                 "--gate", str(other))
    assert out.exit_code == 1 and "match no product of the catalog" in out.output
    assert not opensearch_client.indices.exists_alias(name="mros-test-gate-other")
    assert not opensearch_client.indices.get(index="mros-test-gate-other-*")  # refused before anything was written
