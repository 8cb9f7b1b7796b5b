"""Engine mode's incremental deploy and in-place update, request by request (issue #31), against the scripted
cluster with ML Commons and neural-search (``tests/unit/scripted_cluster.py``; the plugins are not served here):

* an incremental deploy (``--copy clone``, the default) clones the live index under a write block it then
  clears, and sends the difference to the clone: deletes, and the new and edited products without a vector
  through the index's ingest pipeline; nothing unchanged is written;
* with ``--copy read`` it writes the documents whose text is unchanged with their live vector and
  ``pipeline: _none`` (the ``text_embedding`` processor must not embed them again), and sends only the new and
  edited ones through the index's ingest pipeline; ``--copy reindex`` asks the cluster to ``_reindex`` the
  unchanged ids with ``dest.pipeline: _none``;
* the ``semantic`` layout (3.1+) is cloned too, and only the difference goes through its processor; copied by
  reading it would be a full deploy, said in one line (its processor embeds every document written);
* ``--in-place`` upserts the changed documents without a vector through the default pipeline and deletes the
  removed ones, by id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_cluster import (
    CATALOG,
    ScriptedCluster,
    engine_cluster,
    engine_deploy,
    make_engine_run,
    scripted_client,
)

from mr_opensearch.core.catalog import ServingCatalog
from mr_opensearch.deploy.deploy import DeployOptions
from mr_opensearch.deploy.in_place import update_in_place
from mr_opensearch.search.served_model import load_run

EDITED = ServingCatalog(ids=["p1", "p2", "p4"], titles=["cordless drill", "kitchen sink stainless", "garden rake"])
"""p1 unchanged, p2 edited, p3 removed, p4 new."""


@pytest.fixture
def engine_run(tmp_path: Path) -> Path:
    return make_engine_run(tmp_path / "run")


def _bulk_actions(cluster: ScriptedCluster) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every bulk action sent: (header, source)."""
    out = []
    for call in cluster.calls[cluster.mark:]:
        if (call["method"], call["path"]) != ("POST", "/_bulk"):
            continue
        body = call["body"]
        text = body.decode() if isinstance(body, bytes) else body if isinstance(body, str) else "\n".join(body)
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        while lines:
            header = lines.pop(0)
            out.append((header, None if "delete" in header else lines.pop(0)))
    return out


def _first(run: Path, version: str) -> tuple[ScriptedCluster, Any]:
    cluster, first = engine_deploy(run, engine_cluster(run, version), embedding="engine")
    cluster.mark = len(cluster.calls)  # type: ignore[attr-defined]  # the requests after the first deploy
    return cluster, first


def test_an_engine_incremental_deploy_clones_the_live_index_and_sends_only_the_difference(engine_run):
    cluster, first = _first(engine_run, "3.0.3")
    logs: list[str] = []
    from mr_opensearch.deploy.deploy import deploy

    live_docs = json.loads(json.dumps(cluster.docs[first.index]))
    outcome = deploy(scripted_client(cluster), load_run(engine_run), EDITED,
                     DeployOptions(alias="shop", embedding="engine", allow_shrink=True), log=logs.append)
    assert outcome.incremental_from == first.index and outcome.index != first.index
    assert (outcome.copied, outcome.embedded, outcome.removed) == (1, 2, 1)
    (clone,) = cluster.calls_to("PUT", f"/{first.index}/_clone/{outcome.index}")
    settings = _json_body(clone)["settings"]
    assert settings["index.blocks.write"] is None and settings["index.refresh_interval"] == "-1"
    blocks = [_json_body(c) for c in cluster.calls[cluster.mark:]
              if (c["method"], c["path"]) == ("PUT", f"/{first.index}/_settings")]
    assert blocks == [{"index.blocks.write": True}, {"index.blocks.write": None}]  # set for the clone, then cleared
    sent = _bulk_actions(cluster)
    assert [h["delete"]["_id"] for h, _ in sent if "delete" in h] == ["p3"]
    upserts = {h["index"]["_id"]: (h["index"], s) for h, s in sent if "index" in h}
    assert set(upserts) == {"p2", "p4"}  # p1 unchanged: not written at all
    assert all("pipeline" not in h and "embedding" not in s for h, s in upserts.values())  # the pipeline embeds
    assert set(cluster.docs[outcome.index]) == {"p1", "p2", "p4"}
    assert cluster.docs[outcome.index]["p1"]["embedding"] == live_docs["p1"]["embedding"]
    assert all(len(doc["embedding"]) == 8 for doc in cluster.docs[outcome.index].values())
    assert cluster.docs[first.index] == live_docs  # the live index is not changed
    meta = cluster.indices[outcome.index]["mappings"]["_meta"]
    assert meta["index"] == outcome.index and meta["cloned_from"] == first.index and meta["complete"]
    assert cluster.indices[first.index]["mappings"]["_meta"]["cloning_into"] is None
    assert "blocks.write" not in cluster.indices[first.index]["settings"]["index"]
    assert any("(cloned)" in line for line in logs), logs


def _json_body(call: dict[str, Any]) -> Any:
    return json.loads(call["body"]) if isinstance(call["body"], (str, bytes)) else call["body"]


def test_copy_read_skips_the_pipeline_for_the_unchanged_and_embeds_the_rest(engine_run):
    cluster, first = _first(engine_run, "3.0.3")
    logs: list[str] = []
    from mr_opensearch.deploy.deploy import deploy

    outcome = deploy(scripted_client(cluster), load_run(engine_run), EDITED,
                     DeployOptions(alias="shop", embedding="engine", allow_shrink=True, copy="read"), log=logs.append)
    assert outcome.incremental_from == first.index and outcome.index != first.index
    assert (outcome.copied, outcome.embedded, outcome.removed) == (1, 2, 1)
    actions = {header["index"]["_id"]: (header["index"], source) for header, source in _bulk_actions(cluster)}
    copied_header, copied_source = actions["p1"]
    assert copied_header.get("pipeline") == "_none" and len(copied_source["embedding"]) == 8
    assert copied_source["embedding"] == cluster.docs[first.index]["p1"]["embedding"]  # the live vector as it was
    for pid in ("p2", "p4"):  # through the index's text_embedding pipeline, no vector from mros
        header, source = actions[pid]
        assert "pipeline" not in header and "embedding" not in source
    assert set(cluster.docs[outcome.index]) == {"p1", "p2", "p4"}
    assert all(len(doc["embedding"]) == 8 for doc in cluster.docs[outcome.index].values())
    assert any("incremental from" in line and "1 documents keep their vector" in line for line in logs)
    assert not cluster.calls_to("POST", lambda p: "/_search/scroll" in p)  # read through a PIT, never a scroll


def test_copy_reindex_asks_the_cluster_to_copy_the_unchanged_ids_without_the_pipeline(engine_run):
    cluster, first = _first(engine_run, "3.0.3")
    from mr_opensearch.deploy.deploy import deploy

    outcome = deploy(scripted_client(cluster), load_run(engine_run), EDITED,
                     DeployOptions(alias="shop", embedding="engine", allow_shrink=True, copy="reindex"),
                     log=lambda _: None)
    (call,) = cluster.calls_to("POST", "/_reindex")
    body = json.loads(call["body"]) if isinstance(call["body"], str) else call["body"]
    assert body["source"] == {"index": first.index, "query": {"terms": {"product_id": ["p1"]}}, "size": 1000}
    assert body["dest"] == {"index": outcome.index, "pipeline": "_none"}
    assert (outcome.copied, outcome.embedded, outcome.removed) == (1, 2, 1)
    assert cluster.docs[outcome.index]["p1"]["embedding"] == cluster.docs[first.index]["p1"]["embedding"]


def test_the_semantic_layout_is_cloned_and_only_the_difference_goes_through_its_processor(engine_run):
    cluster, first = _first(engine_run, "3.5.0")
    logs: list[str] = []
    from mr_opensearch.deploy.deploy import deploy

    outcome = deploy(scripted_client(cluster), load_run(engine_run), EDITED,
                     DeployOptions(alias="shop", embedding="engine", allow_shrink=True), log=logs.append)
    assert outcome.incremental_from == first.index and (outcome.copied, outcome.embedded, outcome.removed) == (1, 2, 1)
    assert (outcome.manifest or {})["vector_layout"] == "semantic"
    sent = _bulk_actions(cluster)
    assert {h["index"]["_id"] for h, _ in sent if "index" in h} == {"p2", "p4"}  # p1 is not written again
    docs = cluster.docs[outcome.index]
    assert set(docs) == {"p1", "p2", "p4"} and all("embedding_text_semantic_info" in d for d in docs.values())
    assert docs["p1"] == cluster.docs[first.index]["p1"]  # the clone's, as the live index holds it
    assert not [line for line in logs if "a full deploy" in line]


def test_the_semantic_layout_copied_by_reading_means_a_full_deploy_said_in_one_line(engine_run):
    cluster, _ = _first(engine_run, "3.5.0")
    logs: list[str] = []
    from mr_opensearch.deploy.deploy import deploy

    outcome = deploy(scripted_client(cluster), load_run(engine_run), EDITED,
                     DeployOptions(alias="shop", embedding="engine", allow_shrink=True, copy="read"),
                     log=logs.append)
    assert outcome.incremental_from is None and outcome.embedded == 3
    assert [line for line in logs if "a full deploy" in line] == [
        f"deploy: a full deploy: the live index {outcome.previous_index} uses a semantic field, whose processor "
        "embeds every document written to a new index"]


def test_in_place_in_engine_mode_upserts_without_vectors_and_deletes_by_id(engine_run):
    cluster, first = _first(engine_run, "3.0.3")
    outcome = update_in_place(scripted_client(cluster), load_run(engine_run), EDITED,
                              DeployOptions(alias="shop", embedding="engine", allow_shrink=True), log=lambda _: None)
    assert outcome.in_place and outcome.index == first.index
    assert (outcome.embedded, outcome.removed, outcome.unchanged) == (2, 1, 1)
    sent = _bulk_actions(cluster)
    assert [h["delete"]["_id"] for h, _ in sent if "delete" in h] == ["p3"]
    upserts = {h["index"]["_id"]: s for h, s in sent if "index" in h}
    assert set(upserts) == {"p2", "p4"} and all("embedding" not in s for s in upserts.values())
    assert set(cluster.docs[first.index]) == {"p1", "p2", "p4"}
    assert all(len(doc["embedding"]) == 8 for doc in cluster.docs[first.index].values())  # the pipeline embedded
    meta = cluster.indices[first.index]["mappings"]["_meta"]
    assert meta["updating"] is None and meta["documents"] == 3 and len(meta["updates"]) == 1


def test_in_place_refuses_another_model(engine_run, tmp_path):
    cluster, _ = _first(engine_run, "3.0.3")
    other = make_engine_run(tmp_path / "other", seed=1)
    from mr_opensearch.core.errors import MrosError

    with pytest.raises(MrosError, match=r"--in-place refused: the live index .* serves model") as caught:
        update_in_place(scripted_client(cluster), load_run(other), CATALOG,
                        DeployOptions(alias="shop", embedding="engine"), log=lambda _: None)
    assert "deploy without --in-place" in caught.value.hint
    assert not _bulk_actions(cluster)
