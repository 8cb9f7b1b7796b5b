"""`mros deploy --in-place` and the incremental deploy on the real node (issue #31): the in-place update reaches
the documents and vectors of a full deploy of the same catalog, keeps a history, refuses another model; a
SIGKILL at every named point of both paths, then a rerun, converges with every product exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from catalog_files import catalog_rows, write_catalog

from tests.integration.test_deploy_crash import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-inplace"
FULL_ALIAS = "mros-test-inplace-full"
BATCH = "20"


def _documents(client: Any, index: str) -> dict[str, dict[str, Any]]:
    hits = client.search(index=index, body={"size": 1000, "query": {"match_all": {}}})["hits"]["hits"]
    assert len(hits) < 1000
    return {hit["_id"]: hit["_source"] for hit in hits}


def _live(client: Any, alias: str = ALIAS) -> str:
    (index,) = client.indices.get_alias(name=alias)
    return index


def _clean(client: Any) -> None:
    for alias in (ALIAS, FULL_ALIAS):
        for name in list(client.indices.get(index=f"{alias}-*")):
            client.indices.delete(index=name)


@pytest.fixture
def catalogs(own_serving_runs, tmp_path) -> dict[str, Any]:
    """The serving catalog (v1) and an edited one (v2: 5 withdrawn, 10 titles edited, 5 new products)."""
    rows = catalog_rows(own_serving_runs.catalog)
    edited = {pid: f"{title} (new edition)" for pid, title in rows[10:20]}
    added = [(f"new-{i}", f"brand new product number {i}") for i in range(5)]
    v2 = [(pid, edited.get(pid, title)) for pid, title in rows[5:]] + added
    return {"v1": own_serving_runs.catalog, "v2": write_catalog(tmp_path / "v2.csv", v2), "edited": edited,
            "v2_ids": {pid for pid, _ in v2}, "rows": rows}


def _deploy(run: Path, catalog: Path, *extra: str, home: Path, url: str, alias: str = ALIAS,
            env: dict[str, str] | None = None) -> Any:
    return cli("deploy", "--run", str(run), "--catalog", str(catalog), "--alias", alias, "--embedding", "client",
               "--batch-size", BATCH, "--allow-shrink", "--json", *extra, home=home, url=url, env=env)


def _ok(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_in_place_reaches_the_full_deploy_and_keeps_a_history(opensearch_url, opensearch_client, own_serving_runs,
                                                              catalogs, tmp_path):
    client, run, home = opensearch_client, own_serving_runs.runs[0], tmp_path / "home"
    _clean(client)
    first = _ok(_deploy(run, catalogs["v1"], home=home, url=opensearch_url))
    before = _documents(client, first["index"])
    full = _ok(_deploy(run, catalogs["v2"], "--full", home=home, url=opensearch_url, alias=FULL_ALIAS))

    out = _ok(_deploy(run, catalogs["v2"], "--in-place", home=home, url=opensearch_url))
    assert out["in_place"] and out["index"] == first["index"] == _live(client)
    assert (out["embedded"], out["removed"], out["unchanged"], out["fields_updated"]) == (15, 5, 135, 0)
    assert set(out["phase_seconds"]) == {"compare", "embed and write", "refresh and record"}

    updated, expected = _documents(client, first["index"]), _documents(client, full["index"])
    assert set(updated) == set(expected) == catalogs["v2_ids"]
    for pid, doc in expected.items():
        got = updated[pid]
        assert {k: v for k, v in got.items() if k != "embedding"} == {k: v for k, v in doc.items() if k != "embedding"}
        if pid in before and pid not in catalogs["edited"]:  # untouched: the very vector it had
            assert np.array_equal(np.float32(got["embedding"]), np.float32(before[pid]["embedding"]))
        a, b = np.asarray(got["embedding"]), np.asarray(doc["embedding"])
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.99999, pid

    status = _ok(cli("status", "--alias", ALIAS, "--json", home=home, url=opensearch_url))
    (row,) = [r for r in status["indices"] if r["live"]]
    assert row["updating"] is None and row["documents"] == row["expected_documents"] == len(catalogs["v2_ids"])
    (update,) = row["updates"]
    assert (update["embedded"], update["deleted"], update["fields_updated"]) == (15, 5, 0)
    human = cli("status", "--alias", ALIAS, home=home, url=opensearch_url)
    assert "updated in place" in human.stdout and "embedded 15" in human.stdout

    again = _ok(_deploy(run, catalogs["v2"], "--in-place", home=home, url=opensearch_url))
    assert again["action"] == "nothing to do" and again["written"] == 0

    other = _deploy(own_serving_runs.runs[1], catalogs["v2"], "--in-place", home=home, url=opensearch_url)
    assert other.returncode == 1 and "--in-place refused" in other.stderr and "serves model" in other.stderr
    stale = _deploy(run, catalogs["v1"], home=home, url=opensearch_url)  # the index's name is v1's, its content v2
    assert stale.returncode == 1 and "updated in place" in stale.stderr, stale.stderr
    retyped = write_catalog(tmp_path / "retyped.csv", [(f"{pid}.0", title) for pid, title in catalog_rows(catalogs["v2"])])
    refused = cli("deploy", "--run", str(run), "--catalog", str(retyped), "--alias", ALIAS, "--embedding", "client",
                  "--in-place", home=home, url=opensearch_url)  # without --allow-shrink
    assert refused.returncode == 1 and "did the id column change format" in refused.stderr, refused.stderr
    assert set(_documents(client, first["index"])) == catalogs["v2_ids"]  # nothing written


CLONE_PHASES = ("live-blocked", "cloned", "copy-middle", "bulk-done")  # the default --copy clone
READ_PHASES = ("copy-middle", "copied", "bulk-middle")  # --copy read
IN_PLACE_PHASES = ("in-place-started", "in-place-middle", "in-place-written")
KILLS = ([(phase, ()) for phase in CLONE_PHASES] + [(phase, ("--copy", "read")) for phase in READ_PHASES]
         + [(phase, ("--in-place",)) for phase in IN_PLACE_PHASES])


@pytest.mark.parametrize(("phase", "extra"), KILLS, ids=[f"{phase}{''.join(extra)}" for phase, extra in KILLS])
def test_a_kill_at_each_point_then_a_rerun_converges(phase, extra, opensearch_url, opensearch_client, own_serving_runs,
                                                     catalogs, tmp_path):
    client, run, home = opensearch_client, own_serving_runs.runs[0], tmp_path / "home"
    _clean(client)
    first = _ok(_deploy(run, catalogs["v1"], home=home, url=opensearch_url))
    killed = _deploy(run, catalogs["v2"], *extra, home=home, url=opensearch_url, env={"MROS_FAULT_KILL_AT": phase})
    assert killed.returncode == -9, killed.stderr[-2000:]
    in_place = extra == ("--in-place",)
    if not in_place:
        assert _live(client) == first["index"]  # the alias never on the incomplete index
    rerun = _ok(_deploy(run, catalogs["v2"], *extra, home=home, url=opensearch_url))
    live = _live(client)
    assert live == (first["index"] if in_place else rerun["index"])
    if not in_place:
        assert rerun["embedded"] <= 15, rerun  # at most the new and edited products (15) are embedded
        if not extra:  # a clone resumes from the live index it was cloned from
            assert rerun["incremental_from"] == first["index"], rerun
        settings = client.indices.get_settings(index=f"{ALIAS}-*", flat_settings=True)
        assert all(s["settings"].get("index.blocks.write") in (None, "false") for s in settings.values()), settings
        old = client.indices.get_mapping(index=first["index"])[first["index"]]["mappings"]["_meta"]
        assert old.get("cloning_into") is None and old["complete"]  # the live index is left as it was
    client.indices.refresh(index=live)
    docs = _documents(client, live)
    assert set(docs) == catalogs["v2_ids"] and client.count(index=live)["count"] == len(catalogs["v2_ids"])
    assert sorted(d["product_id"] for d in docs.values()) == sorted(catalogs["v2_ids"])  # each exactly once
    titles = dict(catalog_rows(catalogs["v2"]))
    assert all(doc["title"] == titles[pid] for pid, doc in docs.items())
    manifest = client.indices.get_mapping(index=live)[live]["mappings"]["_meta"]
    assert manifest["complete"] and manifest.get("updating") is None and manifest["documents"] == len(docs)
