"""Starting, watching and stopping the OpenSearch JVM process.

OpenSearch refuses to run as root. When mros runs as root (CI, containers) the node is started in
a new user namespace (``unshare --user --map-user=1000``) where it is uid 1000 while every file it
writes is still owned by the real user; no extra account or chown is needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

import psutil

from mr_opensearch.cluster.node.java import Jdk
from mr_opensearch.core.errors import MrosError

NAMESPACE_UID = 1000


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body (raises OSError/ValueError on failure)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


def last_lines(path: Path, n: int = 20) -> list[str]:
    if not path.is_file():
        return []
    with open(path, errors="replace") as fh:
        return [line.rstrip("\n") for line in deque(fh, maxlen=n)]


def _launcher_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise MrosError(
            "OpenSearch cannot run as root and `unshare` (util-linux) is missing to start it as another user.",
            hint="run mros as a non-root user, or install util-linux",
        )
    probe = subprocess.run(
        [unshare, "--user", f"--map-user={NAMESPACE_UID}", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise MrosError(
            "OpenSearch cannot run as root and user namespaces are not available to start it as another user "
            f"({probe.stderr.strip()}).",
            hint="run mros as a non-root user",
        )
    return [unshare, "--user", f"--map-user={NAMESPACE_UID}", f"--map-group={NAMESPACE_UID}"]


def start(home: Path, config_dir: Path, jdk: Jdk, extra_env: dict[str, str], stdout_log: Path) -> int:
    """Start ``bin/opensearch`` detached from this process; return the JVM's pid."""
    env = dict(os.environ)
    for var in ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "OPENSEARCH_JAVA_OPTS"):
        env.pop(var, None)
    env.update(
        {
            "OPENSEARCH_JAVA_HOME": str(jdk.home),
            "JAVA_HOME": str(jdk.home),
            "OPENSEARCH_PATH_CONF": str(config_dir),
            **extra_env,
        }
    )
    stdout_log.parent.mkdir(parents=True, exist_ok=True)
    with open(stdout_log, "ab") as out:
        # bin/opensearch and unshare both exec, so this pid is the JVM's.
        proc = subprocess.Popen(
            [*_launcher_prefix(), str(home / "bin" / "opensearch")],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def is_node_process(pid: int | None, node_dir: Path) -> bool:
    """Whether ``pid`` is alive and is the JVM of the node in ``node_dir`` (guards against pid reuse)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = " ".join(proc.cmdline())
        environ_conf = ""
        with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
            environ_conf = proc.environ().get("OPENSEARCH_PATH_CONF", "")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    folder = str(node_dir).rstrip(os.sep) + os.sep  # nodes/1020/ must not match nodes/10200/
    return "org.opensearch.bootstrap.OpenSearch" in cmdline and (
        folder in cmdline or environ_conf.startswith(folder)
    )


def _alive(pid: int) -> bool:
    # During start-up the pid is still `unshare` or the bin/opensearch shell before they exec java,
    # so only liveness is checked here.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


SINGLE_NODE_CLUSTER_SETTINGS: dict[str, Any] = {"cluster.default_number_of_replicas": 0}
"""Persistent cluster settings of a local node: new indices without replicas (one node cannot hold them,
so an index with OpenSearch's default of one replica would be yellow). OpenSearch 3.5 reads this
setting from the cluster state only (in ``opensearch.yml`` it is accepted and ignored)."""


def apply_cluster_settings(url: str, settings: dict[str, Any], timeout: float = 10.0) -> None:
    """``PUT _cluster/settings`` with ``settings`` as persistent settings (raises OSError/ValueError)."""
    request = urllib.request.Request(f"{url}/_cluster/settings", method="PUT",
                                     data=json.dumps({"persistent": settings}).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        answer = json.loads(resp.read().decode("utf-8"))
    if not answer.get("acknowledged"):
        raise ValueError(f"cluster settings not acknowledged: {answer}")


def is_healthy(health: dict[str, Any]) -> bool:
    """Whether a local node's cluster is ready: green, or - on a single data node - yellow with no
    shard still initializing. Yellow means every primary is active; a single node can never place a
    replica, so an index created with OpenSearch's default of one replica keeps it yellow forever."""
    status = health.get("status")
    if status == "green":
        return True
    return (status == "yellow" and int(health.get("number_of_data_nodes", 0)) == 1
            and int(health.get("initializing_shards", 0)) == 0 and int(health.get("relocating_shards", 0)) == 0)


def health_url(url: str) -> str:
    return f"{url}/_cluster/health?wait_for_status=yellow&timeout=2s"


def is_cluster_ready(health: dict[str, Any], nodes: int) -> bool:
    """Whether a local cluster of ``nodes`` nodes is ready: every node has joined and health is green
    (with several data nodes every replica has a node to go to, so yellow means copies are still
    missing: a node lost, or shards still recovering)."""
    return health.get("status") == "green" and int(health.get("number_of_nodes", 0)) == nodes


def wait_cluster_ready(urls: list[str], started: list[tuple[int, Path, Path]], nodes: int,
                       timeout: float) -> dict[str, Any]:
    """Poll the cluster's health through any of ``urls`` until :func:`is_cluster_ready`; ``started`` are
    the ``(pid, node folder, log file)`` of the nodes just started, each of which must stay alive.
    MrosError with the last log lines of a node that exited, or of the first node when time runs out."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    query = f"/_cluster/health?wait_for_nodes={nodes}&wait_for_status=green&timeout=2s"
    while time.monotonic() < deadline:
        for pid, node_dir, log_file in started:
            if not _alive(pid):
                raise MrosError(
                    f"OpenSearch node {node_dir.name} exited during start-up. Last log lines:\n"
                    + "\n".join(_start_log(node_dir, log_file)),
                    hint=f"full log: {log_file}",
                )
        for url in urls:
            try:
                health = http_json(url + query, timeout=5)
            except (OSError, ValueError) as exc:
                last_error = f"{url}: {exc}"
                continue
            if is_cluster_ready(health, nodes):
                silent = _silent_urls(urls)
                if not silent:
                    return health
                last_error = f"every node joined, but {', '.join(silent)} does not answer HTTP yet"
                break
            last_error = (f"health {health.get('status')}, {health.get('number_of_nodes')} of {nodes} nodes joined, "
                          f"{health.get('initializing_shards')} shards initializing, "
                          f"{health.get('unassigned_shards')} unassigned")
            break
        time.sleep(0.5)
    pid, node_dir, log_file = started[0] if started else (0, Path(), Path())
    raise MrosError(
        f"the cluster did not become ready (every node joined, health green) within {timeout:.0f}s "
        f"({last_error}). Last log lines of {node_dir.name}:\n" + "\n".join(_start_log(node_dir, log_file)),
        hint="the nodes are left running for inspection (stop them with `mros opensearch down`); unassigned "
             "shards: `GET _cluster/allocation/explain`",
    )


def _silent_urls(urls: list[str]) -> list[str]:
    """The ``urls`` whose node does not answer HTTP. A node joins the cluster (over transport) before it
    opens its HTTP port, so a green cluster of every node can still refuse a client on one node's URL."""
    silent = []
    for url in urls:
        try:
            http_json(url + "/", timeout=5)
        except (OSError, ValueError):
            silent.append(url)
    return silent


def wait_healthy(url: str, pid: int, node_dir: Path, timeout: float, log_file: Path) -> dict[str, Any]:
    """Poll cluster health until :func:`is_healthy`; MrosError with the last log lines when it does not come."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise MrosError(
                "OpenSearch exited during start-up. Last log lines:\n"
                + "\n".join(_start_log(node_dir, log_file)),
                hint=f"full log: {log_file}",
            )
        try:
            health = http_json(health_url(url), timeout=5)
            if is_healthy(health):
                return health
            last_error = (f"health {health.get('status')}, {health.get('active_primary_shards')} active primaries, "
                          f"{health.get('unassigned_shards')} unassigned shards")
            time.sleep(0.5)
        except (OSError, ValueError) as exc:
            last_error = str(exc)
            time.sleep(1.0)
    raise MrosError(
        f"OpenSearch did not become healthy within {timeout:.0f}s ({last_error}). Last log lines:\n"
        + "\n".join(_start_log(node_dir, log_file)),
        hint=f"the node is left running for inspection (stop it with `mros opensearch down`); full log: {log_file}",
    )


def _start_log(node_dir: Path, log_file: Path) -> list[str]:
    lines = last_lines(log_file, 20)
    return lines or last_lines(node_dir / "logs" / "stdout.log", 20)


def stop(*pids: int, timeout: float = 60.0) -> None:
    """SIGTERM the nodes (and anything they started) all at once, SIGKILL what is left after ``timeout``."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        procs += [proc, *proc.children(recursive=True)]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
