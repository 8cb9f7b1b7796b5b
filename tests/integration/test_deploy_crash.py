"""`mros deploy` killed with SIGKILL at each named phase, then rerun: it converges (client mode, real node).

For every client-mode phase of :mod:`mr_opensearch.deploy.kill_points` the test deploys the second serving run
over a first one already live, as a subprocess with ``MROS_FAULT_KILL_AT=<phase>``, and checks:

* the process died by SIGKILL at that phase, and the cluster is in the state that phase implies (the
  alias still on the previous index, the new index absent / incomplete with no, some or all documents,
  or complete but not live); the previous index is untouched (same documents, same manifest, not one
  indexing operation); the dead process's lock is still there;
* a plain rerun converges: the alias on one complete index holding every catalog id exactly once
  (``_id`` s and ``product_id`` values), the lock released, and a resumed index got only the documents
  it lacked (``written`` + ``already_present`` = catalog size);
* a watcher thread polling the alias every few milliseconds during both runs never sees it on an
  index whose ``_meta.complete`` is not true.

Engine-mode phases (``chunk-upload``, ``model-deploying``) need ML Commons: see
``test_engine_deploy_crash_leaves_no_orphan_model`` at the end, which skips here with the reason, and
the request-level tests in ``tests/unit/test_ml_commons_requests.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tools.alias_watcher import AliasWatcher

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-killed"
CLIENT_PHASES = ("lock-taken", "index-created", "bulk-middle", "bulk-done", "marked-complete", "alias-moved")
BATCH = "20"  # 150 products in 8 bulk requests: "bulk-middle" falls between two of them


def cli(*args: str, home: Path, url: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MROS_HOME": str(home), **(env or {})}
    for key in ("MROS_FAULT_KILL_AT", "MROS_FAULT_PAUSE_AT"):
        if key not in (env or {}):
            full_env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "mr_opensearch", "--no-progress", *args, "--url", url],
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def deploy_args(run: Path, catalog: Path, alias: str = ALIAS) -> list[str]:
    return ["deploy", "--run", str(run), "--catalog", str(catalog), "--alias", alias, "--embedding", "client",
            "--batch-size", BATCH, "--json"]


def manifest_of(client: Any, index: str) -> dict[str, Any]:
    return client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}


def indexed_total(client: Any, index: str) -> int:
    """Documents indexed into ``index`` so far, refreshed or not (``_stats`` indexing.index_total)."""
    return client.indices.stats(index=index)["indices"][index]["primaries"]["indexing"]["index_total"]


def alias_indices(client: Any, alias: str = ALIAS) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


def lock_holder(client: Any, alias: str = ALIAS) -> dict[str, Any] | None:
    from mr_opensearch.deploy.alias_lock import read_lock

    if not client.indices.exists(index=".mros-locks"):
        return None
    return read_lock(client, alias)


@pytest.fixture(scope="module")
def runs(serving_runs, tmp_path_factory) -> list[Path]:
    """Copies of the session's serving runs: a deploy writes RUN/deploy/, and other modules check the
    originals stay without it."""
    import shutil

    root = tmp_path_factory.mktemp("own-runs")
    return [Path(shutil.copytree(run, root / run.name)) for run in serving_runs.runs]


@pytest.fixture(scope="module")
def catalog_ids(serving_runs) -> list[str]:
    from mr_opensearch.core.catalog import read_catalog

    return list(read_catalog(serving_runs.catalog).ids)


@pytest.fixture(scope="module")
def previous(opensearch_url, opensearch_client, serving_runs, runs, tmp_path_factory) -> dict[str, Any]:
    """The first serving run deployed and live under ``ALIAS``: the index every crash must leave alone."""
    client = opensearch_client
    for name in list(client.indices.get(index=f"{ALIAS}-*")):
        client.indices.delete(index=name)
    if client.indices.exists(index=".mros-locks") and lock_holder(client):
        client.delete(index=".mros-locks", id=ALIAS, refresh="true")
    home = tmp_path_factory.mktemp("crash-home")
    first = cli(*deploy_args(runs[0], serving_runs.catalog), home=home, url=opensearch_url)
    assert first.returncode == 0, first.stderr
    index = json.loads(first.stdout)["index"]
    return {"index": index, "home": home, "count": client.count(index=index)["count"],
            "manifest": manifest_of(client, index), "indexed": indexed_total(client, index)}


@pytest.fixture
def fresh_state(opensearch_client, previous) -> Iterator[None]:
    """Before each phase: the alias back on the previous index alone, no new index, no lock."""
    client = opensearch_client
    live = alias_indices(client)
    actions: list[dict] = [{"remove": {"index": name, "alias": ALIAS}} for name in live if name != previous["index"]]
    if previous["index"] not in live:
        actions.append({"add": {"index": previous["index"], "alias": ALIAS}})
    if actions:
        client.indices.update_aliases(body={"actions": actions})
    for name in client.indices.get(index=f"{ALIAS}-*"):
        if name != previous["index"]:
            client.indices.delete(index=name)
    if lock_holder(client):
        client.delete(index=".mros-locks", id=ALIAS, refresh="true")
    yield


def assert_previous_untouched(client: Any, previous: dict[str, Any]) -> None:
    index = previous["index"]
    assert client.count(index=index)["count"] == previous["count"]
    assert manifest_of(client, index) == previous["manifest"]
    assert indexed_total(client, index) == previous["indexed"]


def assert_converged(client: Any, index: str, catalog_ids: list[str]) -> None:
    from opensearchpy import helpers

    assert alias_indices(client) == [index]
    assert manifest_of(client, index)["complete"] is True
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == len(catalog_ids)
    hits = list(helpers.scan(client, index=index, query={"_source": ["product_id"], "query": {"match_all": {}}}))
    ids = [h["_id"] for h in hits]
    product_ids = [h["_source"]["product_id"] for h in hits]
    assert len(ids) == len(set(ids)) == len(catalog_ids)  # no duplicates
    assert sorted(ids) == sorted(catalog_ids)  # every catalog id, nothing else
    assert sorted(product_ids) == sorted(catalog_ids)
    assert lock_holder(client) is None


@pytest.mark.parametrize("phase", CLIENT_PHASES)
def test_a_deploy_killed_at_each_phase_converges_on_rerun(phase, opensearch_url, opensearch_client, serving_runs,
                                                          runs, previous, catalog_ids, fresh_state):
    client = opensearch_client
    args = deploy_args(runs[1], serving_runs.catalog)
    with AliasWatcher(opensearch_url, ALIAS) as watcher:
        killed = cli(*args, home=previous["home"], url=opensearch_url, env={"MROS_FAULT_KILL_AT": phase})
        assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
        assert f"MROS_FAULT_KILL_AT={phase}" in killed.stderr

        # the state that phase leaves
        holder = lock_holder(client)
        assert holder is not None and holder["command"] == "deploy"  # a SIGKILL releases nothing
        new = [name for name in client.indices.get(index=f"{ALIAS}-*") if name != previous["index"]]
        if phase == "lock-taken":
            assert new == []
        else:
            assert len(new) == 1
            meta, indexed = manifest_of(client, new[0]), indexed_total(client, new[0])
            expected_live = new if phase == "alias-moved" else [previous["index"]]
            assert alias_indices(client) == expected_live
            if phase == "index-created":
                assert meta["complete"] is False and indexed == 0
            elif phase == "bulk-middle":
                assert meta["complete"] is False and 0 < indexed < len(catalog_ids)
            elif phase == "bulk-done":
                assert meta["complete"] is False and indexed == len(catalog_ids)
            else:
                assert meta["complete"] is True
        assert_previous_untouched(client, previous)

        rerun = cli(*args, home=previous["home"], url=opensearch_url)
        assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    expected_action = {"lock-taken": "created", "index-created": "resumed", "bulk-middle": "resumed",
                       "bulk-done": "resumed", "marked-complete": "alias moved to an existing complete index",
                       "alias-moved": "nothing to do"}[phase]
    assert out["action"] == expected_action
    if phase != "lock-taken":
        assert "taking over the lock" in rerun.stderr  # the dead process's lock, taken over at once
    if out["action"] == "resumed":
        assert out["written"] + out["already_present"] == len(catalog_ids)
        assert out["already_present"] == indexed  # only the missing documents were embedded and sent
    assert_converged(client, out["index"], catalog_ids)
    assert_previous_untouched(client, previous)
    assert watcher.violations == []
    assert watcher.polls > 10 and previous["index"] in watcher.seen


@pytest.mark.parametrize("phase", ("chunk-upload", "model-deploying"))
def test_engine_deploy_killed_in_ml_commons_leaves_one_model(phase, opensearch_url, opensearch_client, serving_runs,
                                                             runs, catalog_ids, require_plugins, tmp_path):
    """Engine mode killed right after ``_register_meta`` (a REGISTERING model, no chunk) or while the deploy
    task runs: the rerun deletes the REGISTERING model of its group and registers once, or waits for the
    DEPLOYING one, so exactly one model has the package's hash. Needs ML Commons and neural-search."""
    require_plugins("opensearch-ml", "opensearch-neural-search", "opensearch-knn")
    from mr_opensearch.deploy import ml_commons
    from tests.tools import ml_commons_support

    client = opensearch_client
    alias = f"mros-test-enginekill-{phase}"
    run = runs[0]
    sha = json.loads((run / "onnx" / "ml-commons.json").read_text())["model_content_hash_value"]
    ml_commons_support.ensure_local_model_settings(client)
    for model in ml_commons.models_with_hash(client, sha):  # start without any model of this hash
        ml_commons_support.delete_model(client, model["model_id"])
    for name in list(client.indices.get(index=f"{alias}-*")):
        client.indices.delete(index=name)
    args = ["deploy", "--run", str(run), "--catalog", str(serving_runs.catalog), "--alias", alias,
            "--embedding", "engine", "--json"]
    with AliasWatcher(opensearch_url, alias) as watcher:
        killed = cli(*args, home=tmp_path, url=opensearch_url, env={"MROS_FAULT_KILL_AT": phase}, timeout=900)
        assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
        states = [m["model_state"] for m in ml_commons.models_with_hash(client, sha)]
        assert states == (["REGISTERING"] if phase == "chunk-upload" else states[:1]) and len(states) == 1
        assert alias_indices(client, alias) == []
        rerun = cli(*args, home=tmp_path, url=opensearch_url, timeout=900)
        assert rerun.returncode == 0, rerun.stderr
    models = ml_commons.models_with_hash(client, sha)
    assert [m["model_state"] for m in models] == ["DEPLOYED"]  # one model for the hash, no orphan
    out = json.loads(rerun.stdout)
    assert out["model_id"] == models[0]["model_id"]
    index = out["index"]
    assert alias_indices(client, alias) == [index] and manifest_of(client, index)["complete"] is True
    assert client.count(index=index)["count"] == len(catalog_ids)
    assert watcher.violations == []
    for name in list(client.indices.get(index=f"{alias}-*")):
        client.indices.delete(index=name)
    ml_commons_support.delete_model(client, models[0]["model_id"])
