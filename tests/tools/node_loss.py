"""Losing a data node of a local cluster during a deploy and during a search load: the scenarios that
``tests/integration/test_cluster_node_loss.py`` checks and ``benchmarks/node_loss.py`` measures.

Each scenario runs the real CLI (``python -m mr_opensearch``) as a subprocess against every node's URL,
``SIGKILL`` s one data node (the one holding the primary of the index being written or searched) once
the work is well under way, then brings it back with ``up`` (which starts only the missing node) and
times the cluster's way back to green. The deploy scenario reruns the deploy when the first one
stopped, and checks the end state: the alias on one complete index holding every catalog product
exactly once, and (a watcher polling the alias every 50 ms) never on an incomplete index.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from mr_opensearch.cluster.node import lifecycle, state
from mr_opensearch.cluster.node.state import ClusterState
from tests.tools.alias_watcher import AliasWatcher


def client_of(cluster: ClusterState) -> Any:
    """A client of every node of ``cluster``, through mros's connection (retries, fail-over)."""
    from mr_opensearch.cluster.connection import ClusterConfig, connect

    return connect(ClusterConfig(url=",".join(cluster.urls), timeout=60, retry_budget_s=120))


def mros(*args: str, home: Path) -> subprocess.Popen:
    """``python -m mr_opensearch --no-progress ARGS`` started in the background (stdout, stderr piped)."""
    env = {**os.environ, "MROS_HOME": str(home), "MROS_NO_PROGRESS": "1"}
    for key in ("MROS_FAULT_KILL_AT", "MROS_FAULT_PAUSE_AT", "MROS_OPENSEARCH_URL"):
        env.pop(key, None)
    return subprocess.Popen([sys.executable, "-m", "mr_opensearch", "--no-progress", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def node_port(name: str) -> int:
    """The HTTP port of a local cluster's node from its name (``mros-10201`` -> 10201)."""
    return int(name.rsplit("-", 1)[1])


def primary_holder(client: Any, index: str) -> int:
    """The port of the node that holds the primary of ``index``'s first shard."""
    for row in client.cat.shards(index=index, format="json", h="index,shard,prirep,state,node"):
        if row["shard"] == "0" and row["prirep"] == "p" and row["state"] == "STARTED":
            return node_port(row["node"])
    raise AssertionError(f"no started primary of {index}")


def kill(cluster: ClusterState, port: int) -> int:
    """SIGKILL the node of ``cluster`` on ``port`` and wait until it is gone; returns its pid."""
    saved = state.load(cluster.node_dir(port))
    assert saved is not None and saved.pid, f"node {port} has no saved pid"
    os.kill(saved.pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(saved.pid)], timeout=30)
    return saved.pid


def restart(cluster: ClusterState, timeout: float = 300.0) -> float:
    """``up`` the cluster again (only its missing node starts) and return the seconds until every node has
    joined and health is green."""
    start = time.monotonic()
    lifecycle.up_cluster(port=cluster.port, nodes=len(cluster.ports), root=Path(cluster.root), timeout=timeout)
    return time.monotonic() - start


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def catalog_ids(catalog: Path) -> list[str]:
    from mr_opensearch.core.catalog import read_catalog

    return list(read_catalog(catalog).ids)


@dataclass
class EndState:
    """The alias's index after the deploy: complete, and every catalog product exactly once?"""

    indices: list[str]
    complete: bool
    documents: int
    lost: int
    duplicated: int
    unexpected: int

    @property
    def converged(self) -> bool:
        return (len(self.indices) == 1 and self.complete and self.lost == 0 and self.duplicated == 0
                and self.unexpected == 0)


def end_state(client: Any, alias: str, ids: list[str]) -> EndState:
    from opensearchpy import helpers

    indices = sorted(client.indices.get_alias(name=alias)) if client.indices.exists_alias(name=alias) else []
    if len(indices) != 1:
        return EndState(indices, False, 0, len(ids), 0, 0)
    index = indices[0]
    meta = client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}
    client.indices.refresh(index=index)
    seen = collections.Counter(hit["_source"]["product_id"] for hit in helpers.scan(
        client, index=index, query={"_source": ["product_id"], "query": {"match_all": {}}}, size=5000))
    wanted = set(ids)
    return EndState(indices=indices, complete=meta.get("complete") is True, documents=sum(seen.values()),
                    lost=len(wanted - set(seen)), duplicated=sum(n - 1 for n in seen.values() if n > 1),
                    unexpected=len(set(seen) - wanted))


@dataclass
class Attempt:
    exit_code: int
    seconds: float
    retries: int
    message: str
    result: dict[str, Any] | None


def _finish(proc: subprocess.Popen, started: float, timeout: float) -> Attempt:
    out, err = proc.communicate(timeout=timeout)
    lines = err.splitlines()
    result = None
    if proc.returncode == 0 and out.strip():
        result = json.loads(out)
    errors = [line for line in lines if line.startswith("error") or "hint:" in line]
    return Attempt(exit_code=proc.returncode, seconds=time.monotonic() - started,
                   retries=sum(line.startswith("retry:") for line in lines), message="\n".join(errors[-4:]),
                   result=result)


@dataclass
class DeployLoss:
    """A deploy during which a node died: the attempts, the node, the way back, the end state."""

    documents: int
    killed_port: int
    killed_at_documents: int
    attempts: list[Attempt]
    restart_to_green_s: float
    end: EndState
    alias_polls: int
    alias_on_incomplete: list[str]
    alias_polls_failed: int
    while_down: dict[str, Any] = field(default_factory=dict)
    """How the deploy's preflight saw the cluster once the deploy was over and before the node came back:
    health, data nodes, the replicas it counted as missing and why (:func:`yellow_cause`)."""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["converged"] = self.end.converged
        return out


def indexed(client: Any, index: str) -> int:
    """Documents indexed into ``index`` so far on its primaries (refreshed or not)."""
    from opensearchpy.exceptions import NotFoundError

    try:
        stats = client.indices.stats(index=index, metric="indexing")
    except NotFoundError:
        return 0
    return int(stats["indices"].get(index, {}).get("primaries", {}).get("indexing", {}).get("index_total", 0))


def indices_of(client: Any, alias: str) -> list[str]:
    """The indices named after ``alias`` (``<alias>-*``)."""
    from opensearchpy.exceptions import NotFoundError

    try:
        return sorted(client.indices.get(index=f"{alias}-*", expand_wildcards="open"))
    except NotFoundError:
        return []


def new_index(client: Any, alias: str, before: set[str]) -> str | None:
    fresh = sorted(set(indices_of(client, alias)) - before)
    return fresh[0] if fresh else None


def health_while_down(client: Any) -> dict[str, Any]:
    """The cluster's health and, when yellow, what the deploy's preflight makes of it."""
    from mr_opensearch.deploy.preflight import yellow_cause

    health = client.cluster.health()
    out = {"status": health["status"], "data_nodes": health["number_of_data_nodes"]}
    if health["status"] == "yellow":
        cause = yellow_cause(client, int(health["number_of_data_nodes"]))
        out.update(missing=cause.missing, reasons=sorted(cause.reasons), unplaceable=cause.unplaceable,
                   recovering=cause.recovering)
    return out


def _ended(proc: subprocess.Popen) -> None:
    """Nothing while ``proc`` runs; an AssertionError with its output once it has ended early."""
    if proc.poll() is None:
        return None
    out, err = proc.communicate()
    raise AssertionError(f"`mros` ended early with exit code {proc.returncode}:\n{err[-3000:]}\n{out[-2000:]}")


def deploy_through_node_loss(cluster: ClusterState, *, run: Path, catalog: Path, alias: str, home: Path,
                             kill_at: float = 0.3, batch_size: int = 50, timeout: float = 600) -> DeployLoss:
    """Deploy ``run`` with ``catalog`` to ``alias`` (client mode, every node's URL), SIGKILL the node holding
    the new index's primary once ``kill_at`` of the catalog is indexed, bring it back, rerun the deploy if
    it stopped, and check the end state."""
    ids = catalog_ids(catalog)
    client = client_of(cluster)
    before = set(indices_of(client, alias))
    args = ["deploy", "--run", str(run), "--catalog", str(catalog), "--alias", alias, "--embedding", "client",
            "--batch-size", str(batch_size), "--url", ",".join(cluster.urls), "--json"]
    notes = []
    with AliasWatcher(",".join(cluster.urls), alias, every=0.05) as watcher:
        started = time.monotonic()
        proc = mros(*args, home=home)
        index = wait_for(lambda: new_index(client, alias, before) or _ended(proc), 120, "the deploy's new index")
        threshold = max(1, int(kill_at * len(ids)))
        wait_for(lambda: indexed(client, index) >= threshold or proc.poll() is not None, 300,
                 f"{threshold} documents in {index}")
        if proc.poll() is not None:
            notes.append("the deploy ended before the kill")
        victim = primary_holder(client, index)
        at = indexed(client, index)
        kill(cluster, victim)
        attempts = [_finish(proc, started, timeout)]
        while_down = health_while_down(client)
        restart_s = restart(cluster)
        if attempts[0].exit_code != 0:
            again = time.monotonic()
            attempts.append(_finish(mros(*args, home=home), again, timeout))
    return DeployLoss(documents=len(ids), killed_port=victim, killed_at_documents=at, attempts=attempts,
                      restart_to_green_s=restart_s, end=end_state(client, alias, ids), alias_polls=watcher.polls,
                      alias_on_incomplete=watcher.incomplete, alias_polls_failed=len(watcher.failed),
                      while_down=while_down, notes=notes)


@dataclass
class LoadLoss:
    """A search load (``mros eval``'s or ``mros serve``'s) during which a node died: what the load saw (failed
    queries and the window, from the load's start, they fell in), the node, the way back to green."""

    through: str
    mode: str
    clients: int
    load_seconds: float
    killed_port: int
    killed_after_s: float
    requests: int
    failed: int
    error_window: dict[str, float] | None
    first_error: str | None
    qps: float
    latency_ms: dict[str, float] | None
    restart_to_green_s: float
    retries: int = 0
    """``mros eval``: the retries its client announced."""
    exit_code: int = 0
    message: str = ""
    statuses: dict[str, int] | None = None
    """``mros serve``: the answers by HTTP status (or exception)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def searches(client: Any, index: str) -> int:
    """Query phases run on ``index``'s shard copies so far (every node)."""
    stats = client.indices.stats(index=index, metric="search")
    return int(stats["indices"][index]["total"]["search"]["query_total"])


def judged_queries(judgments: Path, limit: int | None) -> int:
    with open(judgments, encoding="utf-8") as fh:
        queries = list(dict.fromkeys(row["query"] for row in csv.DictReader(fh)))
    return len(queries) if limit is None else min(limit, len(queries))


def search_load_through_node_loss(cluster: ClusterState, *, alias: str, judgments: Path, home: Path,
                                  mode: str = "hybrid", clients: int = 4, load_seconds: float = 20.0,
                                  kill_after_s: float = 4.0, max_queries: int | None = None,
                                  timeout: float = 600) -> LoadLoss:
    """``mros eval --alias`` with a timed load of ``clients`` clients on every node's URL; ``kill_after_s``
    seconds into the load the node holding the index's primary is SIGKILLed; then it is brought back."""
    client = client_of(cluster)
    index = sorted(client.indices.get_alias(name=alias))[0]
    queries = judged_queries(judgments, max_queries)
    args = ["eval", "--alias", alias, "--judgments", str(judgments), "--modes", mode, "--clients", str(clients),
            "--load-seconds", str(load_seconds), "--url", ",".join(cluster.urls), "--json"]
    if max_queries is not None:
        args += ["--max-queries", str(max_queries)]
    legs = 2 if mode == "hybrid" else 1  # client-mode hybrid: one _msearch of two searches per query
    base = searches(client, index)
    started = time.monotonic()
    proc = mros(*args, home=home)
    # the judged pass (5 warm-up queries and one per judged query) is over: the timed load has begun
    wait_for(lambda: searches(client, index) - base >= legs * (queries + 5) + 20 or proc.poll() is not None, 300,
             "the timed load to start")
    load_began = time.monotonic()
    time.sleep(kill_after_s)
    victim = primary_holder(client, index)
    kill(cluster, victim)
    killed_after = time.monotonic() - load_began
    attempt = _finish(proc, started, timeout)
    restart_s = restart(cluster)
    row = (attempt.result or {}).get("eval", {}).get("modes", {}).get(mode, {}).get("load", {}).get(str(clients), {})
    return LoadLoss(through="mros eval", mode=mode, clients=clients, load_seconds=load_seconds, killed_port=victim,
                      killed_after_s=killed_after, requests=int(row.get("requests", 0)),
                      failed=int(row.get("errors", 0)), error_window=row.get("error_window"),
                      first_error=row.get("first_error"), qps=float(row.get("qps", 0.0)),
                      latency_ms=row.get("latency_ms"), retries=attempt.retries, exit_code=attempt.exit_code,
                      message=attempt.message, restart_to_green_s=restart_s)


def start_service(cluster: ClusterState, alias: str, home: Path) -> tuple[subprocess.Popen, int]:
    """``mros serve --alias ALIAS`` on every node's URL and a free port; returns the process and its port."""
    import re
    import threading

    proc = mros("serve", "--alias", alias, "--url", ",".join(cluster.urls), "--port", "0", home=home)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(found.group(1))
    raise AssertionError(f"mros serve did not start (exit code {proc.wait()})")


def service_load_through_node_loss(cluster: ClusterState, *, alias: str, judgments: Path, home: Path,
                                   mode: str = "hybrid", clients: int = 4, load_seconds: float = 20.0,
                                   kill_after_s: float = 4.0, max_queries: int = 200) -> LoadLoss:
    """``clients`` threads send ``GET /search`` to ``mros serve`` for ``load_seconds``; ``kill_after_s`` into the
    load the node holding the index's primary is SIGKILLed; every answer but 200 is a failed query."""
    import http.client
    import threading
    import urllib.parse

    import numpy as np

    client = client_of(cluster)
    index = sorted(client.indices.get_alias(name=alias))[0]
    with open(judgments, encoding="utf-8") as fh:
        queries = list(dict.fromkeys(row["query"] for row in csv.DictReader(fh)))[:max_queries]
    proc, port = start_service(cluster, alias, home)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[tuple[float, str]] = []
    statuses: collections.Counter = collections.Counter()
    began = time.perf_counter()
    deadline = began + load_seconds

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = offset
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            query = urllib.parse.urlencode({"q": queries[i % len(queries)], "mode": mode, "k": 10})
            try:
                conn.request("GET", f"/search?{query}")
                answer = conn.getresponse()
                body = answer.read()
                status, error = str(answer.status), (None if answer.status == 200 else body[:300].decode())
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status, error = type(exc).__name__, str(exc)[:300]
            with lock:
                statuses[status] += 1
                if error is None:
                    latencies.append((time.perf_counter() - start) * 1000.0)
                else:
                    failures.append((time.perf_counter() - began, f"{status}: {error}"))
            i += clients

    try:
        threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(kill_after_s)
        victim = primary_holder(client, index)
        kill(cluster, victim)
        killed_after = time.perf_counter() - began
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    restart_s = restart(cluster)
    times = [at for at, _ in failures]
    arr = np.asarray(latencies)
    return LoadLoss(
        through="mros serve", mode=mode, clients=clients, load_seconds=load_seconds, killed_port=victim, killed_after_s=killed_after,
        requests=len(latencies) + len(failures), failed=len(failures), statuses=dict(statuses),
        error_window={"first_s": min(times), "last_s": max(times), "seconds": max(times) - min(times)}
        if times else None, first_error=failures[0][1] if failures else None, qps=len(latencies) / wall,
        latency_ms={"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
                    "max": float(arr.max())} if latencies else None,
        restart_to_green_s=restart_s)
