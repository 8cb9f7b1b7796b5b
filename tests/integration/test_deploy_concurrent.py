"""Two `mros deploy` of one alias at once, and locks left behind, against the real node (client mode).

* two deploy processes started at the same moment: exactly one writes, the other exits 1 naming the
  holder (pid, host) and what to do; one consistent index results. The winner is held at
  ``lock-taken`` (``MROS_FAULT_PAUSE_AT``) until the loser has been refused, so the outcome does not
  depend on which process is faster;
* ``--wait``: the second deploy waits for the first and then finds "nothing to do";
* racing threads on the lock itself: of eight ``op_type=create`` attempts at the same instant, one wins;
* a lock left by a dead process on this host, or by another host with an expired heartbeat, is taken
  over; a live foreign lock refuses a deploy (even with a short ``--wait``) and a rollback, and leaves
  the cluster unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALIAS = "mros-test-concurrent"


@pytest.fixture(scope="module")
def runs(serving_runs, tmp_path_factory) -> list[Path]:
    """Copies of the session's serving runs: a deploy writes RUN/deploy/, and other modules check the
    originals stay without it."""
    import shutil

    root = tmp_path_factory.mktemp("own-runs")
    return [Path(shutil.copytree(run, root / run.name)) for run in serving_runs.runs]


def start(run: Path, catalog: Path, url: str, home: Path, log: Path, *extra: str,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "MROS_HOME": str(home), **(env or {})}
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "mr_opensearch", "--no-progress", "deploy", "--run", str(run),
                                 "--catalog", str(catalog), "--alias", ALIAS, "--url", url, "--embedding", "client",
                                 "--json", *extra], env=full_env, stdout=subprocess.PIPE, stderr=err, text=True)


def wait_for_text(path: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text()}")


def lock_doc(client: Any) -> dict[str, Any] | None:
    from mr_opensearch.deploy.alias_lock import LOCK_INDEX, read_lock

    return read_lock(client, ALIAS) if client.indices.exists(index=LOCK_INDEX) else None


@pytest.fixture
def clean(opensearch_client) -> Any:
    from mr_opensearch.deploy.alias_lock import LOCK_INDEX

    client = opensearch_client
    for name in list(client.indices.get(index=f"{ALIAS}-*")):
        client.indices.delete(index=name)
    if lock_doc(client):
        client.delete(index=LOCK_INDEX, id=ALIAS, refresh="true")
    return client


def assert_one_consistent_index(client: Any, catalog: Path) -> str:
    from opensearchpy import helpers

    from mr_opensearch.core.catalog import read_catalog

    ids = list(read_catalog(catalog).ids)
    live = list(client.indices.get_alias(name=ALIAS))
    assert len(live) == 1 and list(client.indices.get(index=f"{ALIAS}-*")) == live
    index = live[0]
    assert client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]["complete"] is True
    found = [h["_id"] for h in helpers.scan(client, index=index, query={"_source": False})]
    assert len(found) == len(set(found)) and sorted(found) == sorted(ids)
    assert lock_doc(client) is None
    return index


def test_two_deploys_at_once_one_writes_the_other_refuses(clean, opensearch_url, serving_runs, runs, tmp_path):
    client = clean
    resume = tmp_path / "resume"
    hold = {"MROS_FAULT_PAUSE_AT": "lock-taken", "MROS_FAULT_RESUME_FILE": str(resume)}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(runs[0], serving_runs.catalog, opensearch_url, tmp_path, log, env=hold)
             for log in logs]
    # whichever takes the lock waits at lock-taken; the other must be refused meanwhile
    deadline = time.monotonic() + 180
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    loser = next(i for i, p in enumerate(procs) if p.poll() is not None)
    winner = 1 - loser
    assert procs[loser].returncode == 1, logs[loser].read_text()
    refused = logs[loser].read_text()
    holder = lock_doc(client)
    assert holder is not None and holder["pid"] == procs[winner].pid
    assert f"alias '{ALIAS}' is locked by another mros deploy by pid {procs[winner].pid} on {socket.gethostname()}" \
        in refused
    assert "--wait SECONDS" in refused
    assert list(client.indices.get(index=f"{ALIAS}-*")) == []  # the loser wrote nothing
    resume.touch()
    out, _ = procs[winner].communicate(timeout=300)
    assert procs[winner].returncode == 0, logs[winner].read_text()
    assert json.loads(out)["action"] == "created"
    assert json.loads(out)["index"] == assert_one_consistent_index(client, serving_runs.catalog)


def test_with_wait_the_second_deploy_waits_then_finds_nothing_to_do(clean, opensearch_url, serving_runs, runs, tmp_path):
    client = clean
    resume = tmp_path / "resume"
    first = start(runs[0], serving_runs.catalog, opensearch_url, tmp_path, tmp_path / "a.log",
                  env={"MROS_FAULT_PAUSE_AT": "lock-taken", "MROS_FAULT_RESUME_FILE": str(resume)})
    wait_for_text(tmp_path / "a.log", "waits for")
    second = start(runs[0], serving_runs.catalog, opensearch_url, tmp_path, tmp_path / "b.log",
                   "--wait", "240")
    wait_for_text(tmp_path / "b.log", "lock: waiting up to 240 s")
    resume.touch()
    out_a, _ = first.communicate(timeout=300)
    out_b, _ = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (tmp_path / "b.log").read_text()
    assert json.loads(out_a)["action"] == "created"
    assert json.loads(out_b)["action"] == "nothing to do" and json.loads(out_b)["written"] == 0
    assert assert_one_consistent_index(client, serving_runs.catalog) == json.loads(out_a)["index"]


def test_racing_lock_attempts_have_exactly_one_winner(opensearch_url, clean):
    from opensearchpy import OpenSearch

    from mr_opensearch.deploy.alias_lock import AliasLock, LockHeld

    barrier = threading.Barrier(8)
    outcomes: list[Any] = [None] * 8
    locks = [AliasLock(OpenSearch(hosts=[opensearch_url], timeout=30), ALIAS, log=lambda _: None) for _ in range(8)]

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            locks[i]._try_take()
            outcomes[i] = "won"
        except LockHeld:
            outcomes[i] = "refused"

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    winner = locks[outcomes.index("won")]
    assert lock_doc(clean)["token"] == winner.token
    winner.release()
    assert lock_doc(clean) is None


def plant_lock(client: Any, **fields: Any) -> None:
    from mr_opensearch.deploy.alias_lock import LOCK_INDEX, LOCK_INDEX_BODY

    if not client.indices.exists(index=LOCK_INDEX):
        client.indices.create(index=LOCK_INDEX, body=LOCK_INDEX_BODY)
    doc = {"alias": ALIAS, "token": "planted", "host": socket.gethostname(), "pid": 0, "started_at": "earlier",
           "mros_version": "0", "command": "deploy", "ttl_s": 60.0, "heartbeat_at": time.time(), **fields}
    client.index(index=LOCK_INDEX, id=ALIAS, body=doc, op_type="create", refresh="true")


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def invoke(*args: str, home: Path) -> Any:
    return CliRunner().invoke(app, ["--no-progress", *args], env={"MROS_HOME": str(home)})


@pytest.mark.parametrize("left_by", ["dead process on this host", "other host, heartbeat expired"])
def test_a_stale_lock_is_taken_over(left_by, clean, opensearch_url, serving_runs, runs, tmp_path):
    client = clean
    if left_by == "dead process on this host":
        plant_lock(client, pid=dead_pid())  # fresh heartbeat: only the dead pid makes it stale
        reason = "on this host is gone"
    else:
        plant_lock(client, host="build-box-7", pid=4242, heartbeat_at=time.time() - 3600)
        reason = "no heartbeat for"
    outcome = invoke("deploy", "--run", str(runs[0]), "--catalog", str(serving_runs.catalog),
                     "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", home=tmp_path)
    assert outcome.exit_code == 0, outcome.output
    assert "taking over the lock" in outcome.output and reason in outcome.output
    assert_one_consistent_index(client, serving_runs.catalog)


def test_a_live_foreign_lock_refuses_the_deploy_and_changes_nothing(clean, opensearch_url, serving_runs, runs, tmp_path):
    from test_deploy import snapshot

    client = clean
    plant_lock(client, host="build-box-7", pid=4242, started_at="2026-12-03T08:00:00+00:00")
    before = snapshot(client, f"{ALIAS}*")
    deploy = invoke("deploy", "--run", str(runs[0]), "--catalog", str(serving_runs.catalog),
                    "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", home=tmp_path)
    assert deploy.exit_code == 1
    assert "locked by another mros deploy by pid 4242 on build-box-7" in deploy.output
    assert "--wait SECONDS" in deploy.output
    assert snapshot(client, f"{ALIAS}*") == before
    waited = invoke("deploy", "--run", str(runs[0]), "--catalog", str(serving_runs.catalog),
                    "--alias", ALIAS, "--url", opensearch_url, "--embedding", "client", "--wait", "2", home=tmp_path)
    assert waited.exit_code == 1 and "locked by another mros deploy" in waited.output
    assert lock_doc(client)["token"] == "planted"
    status = invoke("status", "--alias", ALIAS, "--url", opensearch_url, home=tmp_path)
    assert status.exit_code == 0 and "locked: deploy by pid 4242 on build-box-7" in status.output


def test_a_live_lock_refuses_a_rollback(clean, opensearch_url, serving_runs, runs, tmp_path):
    client = clean
    for run in runs:
        done = invoke("deploy", "--run", str(run), "--catalog", str(serving_runs.catalog), "--alias", ALIAS,
                      "--url", opensearch_url, "--embedding", "client", home=tmp_path)
        assert done.exit_code == 0, done.output
    live = list(client.indices.get_alias(name=ALIAS))
    plant_lock(client, host="build-box-7", pid=4242)
    back = invoke("rollback", "--alias", ALIAS, "--url", opensearch_url, home=tmp_path)
    assert back.exit_code == 1
    assert "locked by another mros deploy by pid 4242 on build-box-7" in back.output
    assert list(client.indices.get_alias(name=ALIAS)) == live
    client.delete(index=".mros-locks", id=ALIAS, refresh="true")
    back = invoke("rollback", "--alias", ALIAS, "--url", opensearch_url, home=tmp_path)
    assert back.exit_code == 0, back.output
    assert list(client.indices.get_alias(name=ALIAS)) != live and lock_doc(client) is None
