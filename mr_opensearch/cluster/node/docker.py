"""``mros opensearch up --docker``: the same node from the official image, through testcontainers.

The official ``opensearchproject/opensearch:<version>`` image already bundles job-scheduler, k-NN,
ML Commons and neural-search; the security plugin is disabled. The container outlives the
``mros`` process (the testcontainers reaper is turned off for it) and is stopped by ``down``.
Where no Docker engine answers, a clear MrosError says so.
"""

from __future__ import annotations

import os
import time
from typing import Any

from mr_opensearch.cluster.node import config, process, state
from mr_opensearch.cluster.node.maven import Reporter
from mr_opensearch.cluster.node.state import NodeState
from mr_opensearch.cluster.node.versions import OPENSEARCH_VERSION
from mr_opensearch.core.errors import MrosError

IMAGE = "opensearchproject/opensearch"


def _client() -> Any:
    try:
        import docker
    except ImportError:
        from mr_opensearch.core.optional_dependencies import install_hint

        raise MrosError(
            "--docker needs the `docker` extra (the docker and testcontainers packages)", hint=install_hint("docker")
        ) from None
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise MrosError(
            f"No Docker engine answers at {where} ({type(exc).__name__}).",
            hint="start Docker (or set DOCKER_HOST), or run without --docker to use the Maven-assembled node",
        ) from None
    return client


def ensure_engine() -> None:
    """Raise MrosError when no Docker engine answers."""
    _client()


def container_running(container_id: str) -> bool:
    """Whether the container runs; False when it is gone, or when no Docker engine answers (then none runs)."""
    try:
        client = _client()
    except MrosError:
        return False
    from docker.errors import NotFound

    try:
        container = client.containers.get(container_id)
    except NotFound:
        return False
    return container.status == "running"


def stop(container_id: str) -> None:
    """Stop and remove the container; one that is gone already is fine. No Docker engine: MrosError."""
    client = _client()
    from docker.errors import NotFound

    try:
        container = client.containers.get(container_id)
    except NotFound:
        return
    container.stop(timeout=30)
    container.remove(force=True)


def up(*, port: int, heap: str, timeout: float, report: Reporter | None = None) -> NodeState:
    """Start the official image on ``127.0.0.1:port`` and wait until healthy (:func:`process.is_healthy`)."""
    ensure_engine()
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer

    node_dir = state.node_dir(port)
    if process.port_in_use(port):
        raise MrosError(f"Port {port} on 127.0.0.1 is already in use.", hint="pick another port with --port")
    image = f"{IMAGE}:{OPENSEARCH_VERSION}"
    if report:
        report(f"Starting {image} on 127.0.0.1:{port}")
    container = (
        DockerContainer(image)
        .with_env("discovery.type", "single-node")
        .with_env("DISABLE_SECURITY_PLUGIN", "true")
        .with_env("DISABLE_INSTALL_DEMO_CONFIG", "true")
        .with_env("OPENSEARCH_JAVA_OPTS", f"-Xms{heap} -Xmx{heap}")
        .with_bind_ports(9200, ("127.0.0.1", port))
    )
    for key, value in config.ML_COMMONS_SETTINGS.items():
        container = container.with_env(key, str(value).lower() if isinstance(value, bool) else str(value))
    container.start()
    wrapped = container.get_wrapped_container()
    url = f"http://127.0.0.1:{port}"
    node = NodeState(
        port=port,
        url=url,
        node_dir=str(node_dir),
        version=OPENSEARCH_VERSION,
        heap=heap,
        container_id=wrapped.id,
        started_at=time.time(),
    )
    state.save(node)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.is_healthy(process.http_json(process.health_url(url))):
                return node
        except (OSError, ValueError):
            time.sleep(1.0)
    logs = wrapped.logs(tail=20).decode("utf-8", errors="replace")
    raise MrosError(
        f"The OpenSearch container did not become healthy within {timeout:.0f}s. Last log lines:\n{logs}"
    )
