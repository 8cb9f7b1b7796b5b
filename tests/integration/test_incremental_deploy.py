"""Incremental deploys on the real node (issue #31): a catalog with edits, additions and removals embeds
exactly the new and edited products (counted by the encoder, not by the report), copies the rest with
their vectors, and gives the index a full deploy of the same catalog gives; rollback still works."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from catalog_files import catalog_rows, write_catalog
from typer.testing import CliRunner

from mr_opensearch.cli import app
from mr_opensearch.core.catalog import read_catalog
from mr_opensearch.deploy.deploy import DeployOptions, deploy
from mr_opensearch.search.served_model import client_variant, for_client, load_run, open_encoder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-incremental"
FULL_ALIAS = "mros-test-incremental-full"


def _documents(client: Any, index: str) -> dict[str, dict[str, Any]]:
    from opensearchpy import helpers

    return {hit["_id"]: hit["_source"] for hit in helpers.scan(client, index=index, query={"query": {"match_all": {}}})}


def _clean(client: Any) -> None:
    for alias in (ALIAS, FULL_ALIAS):
        for name in list(client.indices.get(index=f"{alias}-*")):
            client.indices.delete(index=name)


PHASES = {"clone": {"clone", "compare", "embed and index", "refresh and complete"},
          "read": {"copy", "embed and index", "refresh and complete"}}


@pytest.mark.parametrize("copy", ["clone", "read"])
def test_an_incremental_deploy_embeds_only_what_changed_and_equals_a_full_deploy(copy, opensearch_url,
                                                                                 opensearch_client, own_serving_runs,
                                                                                 tmp_path):
    _clean(opensearch_client)
    run = own_serving_runs.runs[0]
    first = CliRunner().invoke(app, ["--no-progress", "deploy", "--run", str(run), "--catalog",
                                     str(own_serving_runs.catalog), "--alias", ALIAS, "--url", opensearch_url,
                                     "--embedding", "client", "--json"])
    assert first.exit_code == 0, first.output
    first_index = json.loads(first.stdout)["index"]

    rows = catalog_rows(own_serving_runs.catalog)
    edited = {pid: f"{title} (new edition)" for pid, title in rows[10:20]}
    added = [(f"new-{i}", f"brand new product number {i}") for i in range(5)]
    kept = [(pid, edited.get(pid, title)) for pid, title in rows[5:]]  # the first 5 products are withdrawn
    changed = write_catalog(tmp_path / "changed.csv", kept + added)

    packaged = load_run(run)
    model = for_client(packaged, client_variant(packaged)[0])  # the variant the CLI's client deploy embedded with
    encoder = open_encoder(model)
    embedded: list[str] = []

    def counting_encode(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return encoder.encode(texts, 64)

    client = opensearch_client
    lines: list[str] = []
    outcome = deploy(client, model, read_catalog(changed), DeployOptions(alias=ALIAS, embedding="client", copy=copy),
                     log=lines.append, encode=counting_encode)
    assert sorted(embedded) == sorted([*edited.values(), *(title for _, title in added)])
    assert outcome.embedded == 15 and outcome.copied == 135 and outcome.removed == 5
    assert outcome.incremental_from == first_index
    assert set(outcome.phase_seconds) == PHASES[copy]
    settings = client.indices.get_settings(index=outcome.index, flat_settings=True)[outcome.index]["settings"]
    assert settings.get("index.resize.source.name") == (first_index if copy == "clone" else None)
    assert settings["index.refresh_interval"] == "1s" and settings.get("index.blocks.write") in (None, "false")
    if copy == "clone":
        assert any("(cloned)" in line for line in lines), lines
        meta = client.indices.get_mapping(index=outcome.index)[outcome.index]["mappings"]["_meta"]
        assert meta["index"] == outcome.index and meta["cloned_from"] == first_index and meta["complete"]
        live_meta = client.indices.get_mapping(index=first_index)[first_index]["mappings"]["_meta"]
        assert live_meta.get("cloning_into") is None and live_meta["index"] == first_index
        live_settings = client.indices.get_settings(index=first_index, flat_settings=True)[first_index]["settings"]
        assert live_settings.get("index.blocks.write") in (None, "false")
    # the live index was read with its vectors and still serves them (no scroll: see cluster/index_reader.py)
    assert len(client.get(index=first_index, id=rows[30][0])["_source"]["embedding"]) == model.dimension
    assert list(client.indices.get_alias(name=ALIAS)) == [outcome.index]

    full = deploy(client, model, read_catalog(changed), DeployOptions(alias=FULL_ALIAS, embedding="client", full=True),
                  log=lambda _: None)
    assert full.incremental_from is None and full.embedded == len(kept) + len(added)
    incremental_docs, full_docs = _documents(client, outcome.index), _documents(client, full.index)
    live_docs = _documents(client, first_index)
    assert set(incremental_docs) == set(full_docs) == {pid for pid, _ in kept + added}
    for pid, doc in full_docs.items():
        other = incremental_docs[pid]
        assert {k: v for k, v in other.items() if k != "embedding"} == {k: v for k, v in doc.items() if k != "embedding"}
        if pid in live_docs and pid not in edited:  # copied: the live vector, exactly (float32 both ways)
            assert np.array_equal(np.float32(other["embedding"]), np.float32(live_docs[pid]["embedding"])), pid
        # a fresh embedding of the same text: equal up to the int8 encoder's batch-to-batch variation (dynamic
        # quantization scales activations per batch), far below any ranking difference
        a, b = np.asarray(other["embedding"]), np.asarray(doc["embedding"])
        assert np.abs(a - b).max() < 2e-4 and a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.99999, pid

    back = CliRunner().invoke(app, ["--no-progress", "rollback", "--alias", ALIAS, "--url", opensearch_url, "--json"])
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["to"] == first_index


def test_another_model_means_a_full_deploy_said_in_one_line(opensearch_url, opensearch_client, own_serving_runs, tmp_path):
    _clean(opensearch_client)
    runs = own_serving_runs.runs
    base = ["--no-progress", "deploy", "--catalog", str(own_serving_runs.catalog), "--alias", ALIAS, "--url",
            opensearch_url, "--embedding", "client"]
    assert CliRunner().invoke(app, [*base, "--run", str(runs[0])]).exit_code == 0
    other = CliRunner().invoke(app, [*base, "--run", str(runs[1]), "--json"])
    assert other.exit_code == 0, other.output
    out = json.loads(other.stdout)
    assert out["incremental_from"] is None and out["embedded"] == out["documents"]
    assert "a full deploy: the live index" in other.stderr and "serves another model" in other.stderr
