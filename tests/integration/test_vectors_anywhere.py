"""Vectors computed anywhere (issue #31): `mros embed` + `mros deploy --vectors` gives the index of an in-process
deploy (bit for bit: the same batches), the Ray Data example on a local Ray instance gives it too (to the int8
encoder's batch-to-batch variation), a vectors file covering part of an edited catalog is used for what it
covers and the rest embedded on the spot, and another model's file is refused before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from catalog_files import catalog_rows, write_catalog
from json_fields import check_documented

from tests.integration.test_deploy_crash import cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-vectors"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ray_embed_catalog.py"


def _documents(client: Any, index: str) -> dict[str, dict[str, Any]]:
    hits = client.search(index=index, body={"size": 1000, "query": {"match_all": {}}})["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _clean(client: Any) -> None:
    for name in list(client.indices.get(index=f"{ALIAS}*")):
        client.indices.delete(index=name)


def _deploy(run: Path, catalog: Path, alias: str, *extra: str, home: Path, url: str) -> Any:
    return cli("deploy", "--run", str(run), "--catalog", str(catalog), "--alias", alias, "--embedding", "client",
               "--json", *extra, home=home, url=url)


def _ok(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def in_process(own_serving_runs, opensearch_client, opensearch_url, tmp_path_factory) -> dict[str, Any]:
    """The index of an in-process client-mode deploy of the serving catalog (the reference)."""
    _clean(opensearch_client)
    home = tmp_path_factory.mktemp("home")
    out = _ok(_deploy(own_serving_runs.runs[0], own_serving_runs.catalog, f"{ALIAS}-reference", home=home,
                      url=opensearch_url))
    return _documents(opensearch_client, out["index"])


def test_mros_embed_then_deploy_vectors_equals_an_in_process_deploy(own_serving_runs, opensearch_client,
                                                                     opensearch_url, in_process, tmp_path):
    run, catalog, home = own_serving_runs.runs[0], own_serving_runs.catalog, tmp_path / "home"
    vectors = tmp_path / "vectors.parquet"
    embedded = _ok(_embed(run, catalog, vectors, home))
    check_documented("embed", embedded)
    assert embedded["products"] == 150 and vectors.exists()
    out = _ok(_deploy(run, catalog, f"{ALIAS}-embedded", "--vectors", str(vectors), home=home, url=opensearch_url))
    check_documented("deploy", out)
    assert (out["from_vectors_file"], out["embedded"], out["written"]) == (150, 0, 150)
    got = _documents(opensearch_client, out["index"])
    assert set(got) == set(in_process)
    for pid, doc in in_process.items():
        assert {k: v for k, v in got[pid].items() if k != "embedding"} == {k: v for k, v in doc.items() if k != "embedding"}
        assert np.array_equal(np.float32(got[pid]["embedding"]), np.float32(doc["embedding"])), pid

    again = _embed(run, catalog, vectors, home)
    assert again.returncode == 1 and "--force" in again.stderr  # an existing output is never replaced silently


def _embed(run: Path, catalog: Path, out: Path, home: Path) -> Any:
    return subprocess.run([sys.executable, "-m", "mr_opensearch", "--no-progress", "embed", "--run", str(run),
                           "--catalog", str(catalog), "--out", str(out), "--json"],
                          env={**os.environ, "MROS_HOME": str(home)}, capture_output=True, text=True, timeout=300)


def test_a_partial_file_is_used_for_what_it_covers_and_another_models_is_refused(own_serving_runs, opensearch_client,
                                                                                 opensearch_url, tmp_path):
    run, home = own_serving_runs.runs[0], tmp_path / "home"
    vectors = tmp_path / "vectors.parquet"
    _ok(_embed(run, own_serving_runs.catalog, vectors, home))
    rows = catalog_rows(own_serving_runs.catalog)
    edited = [(pid, f"{title} v2") for pid, title in rows[:10]] + rows[10:] + [("new-1", "a brand new product")]
    catalog = write_catalog(tmp_path / "edited.csv", edited)
    out = _ok(_deploy(run, catalog, f"{ALIAS}-partial", "--vectors", str(vectors), home=home, url=opensearch_url))
    assert (out["from_vectors_file"], out["embedded"]) == (140, 11)  # 10 stale texts and 1 new product embedded here

    other = tmp_path / "other.parquet"
    _ok(_embed(own_serving_runs.runs[1], own_serving_runs.catalog, other, home))
    refused = _deploy(run, own_serving_runs.catalog, f"{ALIAS}-refused", "--vectors", str(other), home=home,
                      url=opensearch_url)
    assert refused.returncode == 1 and "was embedded by model" in refused.stderr
    assert not opensearch_client.indices.exists_alias(name=f"{ALIAS}-refused")
    fewer = write_catalog(tmp_path / "fewer.csv", rows[:100])
    stray = _deploy(run, fewer, f"{ALIAS}-refused", "--vectors", str(vectors), home=home, url=opensearch_url)
    assert stray.returncode == 1 and "50 product ids the catalog does not" in stray.stderr


def test_the_ray_example_embeds_on_a_local_ray_instance_and_deploys_the_same_index(own_serving_runs,
                                                                                   opensearch_client, opensearch_url,
                                                                                   in_process, tmp_path):
    pytest.importorskip("ray", reason="the `ray` extra is not installed (pip install -e '.[ray]')")
    run, catalog, home = own_serving_runs.runs[0], own_serving_runs.catalog, tmp_path / "home"
    vectors = tmp_path / "ray.parquet"
    done = subprocess.run([sys.executable, str(EXAMPLE), "--run", str(run), "--catalog", str(catalog), "--out",
                           str(vectors), "--actors", "2", "--batch-size", "32"],
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLE.parents[2]),
                                                                                         os.environ.get("PYTHONPATH")]))},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"wrote {vectors}: 150 vectors with 2 actors" in done.stdout
    out = _ok(_deploy(run, catalog, f"{ALIAS}-ray", "--vectors", str(vectors), home=home, url=opensearch_url))
    assert (out["from_vectors_file"], out["embedded"]) == (150, 0)
    got = _documents(opensearch_client, out["index"])
    assert set(got) == set(in_process)
    for pid, doc in in_process.items():
        assert {k: v for k, v in got[pid].items() if k != "embedding"} == {k: v for k, v in doc.items() if k != "embedding"}
        a, b = np.asarray(got[pid]["embedding"]), np.asarray(doc["embedding"])
        # other batches than the deploy's: equal up to the int8 encoder's per-batch activation scales
        assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.9999, pid
