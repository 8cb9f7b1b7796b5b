"""Connecting to an OpenSearch cluster: URL, basic auth, TLS, and a clear error when it is not there.

The password is read from ``MROS_OPENSEARCH_PASSWORD`` when not given, so it stays out of config files
and shell history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from mr_opensearch.errors import MrosError
from mr_opensearch.strict import StrictModel


class ClusterConfig(StrictModel):
    """Where the cluster is. ``url: null`` means the local node of ``mros opensearch up``."""

    url: str | None = Field(None, description="e.g. https://search.example.com:9200; null: start a local node")
    user: str | None = None
    password: str | None = Field(None, description="default: $MROS_OPENSEARCH_PASSWORD")
    verify_certs: bool = True
    ca_certs: Path | None = Field(None, description="CA bundle for a cluster with a private CA")
    timeout: float = Field(60.0, gt=0, description="seconds one request may take")
    connect_timeout: float = Field(10.0, gt=0, description="seconds the first request (is the cluster there?) may "
                                   "take, without retries: a host that accepts and never answers fails this fast")
    port: int = Field(9200, description="port of the local node when url is null")
    heap: str = Field("1g", description="JVM heap of the local node when url is null")


MAX_PARALLEL_REQUESTS = 64
"""Connections the client keeps per host: the most parallel requests one client serves without
opening and discarding extra ones (the in-engine evaluation's client count is bounded by it)."""


URL_HINT = "write the cluster as http(s)://HOST:PORT, e.g. https://search.example.com:9200"


def check_url(url: str) -> str:
    """Refuse a cluster URL that is not ``http(s)://HOST[:PORT][/PATH]`` before anything connects."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise MrosError(f"cluster URL {url!r} is not valid ({exc})", URL_HINT, exit_code=2) from None
    if parts.scheme not in ("http", "https"):
        raise MrosError(f"cluster URL {url!r} needs http:// or https://", URL_HINT, exit_code=2)
    if not parts.hostname:
        raise MrosError(f"cluster URL {url!r} names no host", URL_HINT, exit_code=2)
    if port == 0:
        raise MrosError(f"cluster URL {url!r} has port 0", URL_HINT, exit_code=2)
    return url


def connect(config: ClusterConfig, url: str | None = None) -> Any:
    """An ``opensearchpy.OpenSearch`` client that has answered a ping (raises :class:`MrosError` otherwise).

    The ping is a single request bounded by ``config.connect_timeout`` (no retries), so an unreachable
    or silent host fails in seconds; the returned client uses ``config.timeout`` and retries."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import (
        AuthenticationException,
        ConnectionError,
        ConnectionTimeout,
        TransportError,
    )

    target = (url or config.url or "").rstrip("/")
    if not target:
        raise MrosError("no cluster URL", "pass --url or start a node with `mros opensearch up`")
    check_url(target)
    password = config.password or os.environ.get("MROS_OPENSEARCH_PASSWORD")
    auth = (config.user, password or "") if config.user else None
    if config.ca_certs is not None and not Path(config.ca_certs).is_file():
        raise MrosError(f"CA bundle {config.ca_certs} not found (or not a file)",
                        "pass --ca-certs FILE (PEM), or fix opensearch.ca_certs in the config")
    options = dict(hosts=[target], http_auth=auth, verify_certs=config.verify_certs,
                   ca_certs=str(config.ca_certs) if config.ca_certs else None, ssl_show_warn=False)
    client = OpenSearch(**options, timeout=config.timeout, max_retries=2, retry_on_timeout=True,
                        pool_maxsize=MAX_PARALLEL_REQUESTS)
    probe = OpenSearch(**options, timeout=config.connect_timeout, max_retries=0, retry_on_timeout=False)
    try:
        info = probe.info()
    except AuthenticationException:
        raise MrosError(f"{target} refused the credentials", "check opensearch.user and MROS_OPENSEARCH_PASSWORD") from None
    except ConnectionTimeout:
        raise MrosError(f"OpenSearch at {target} did not answer within {config.connect_timeout:g}s",
                        "check the URL and port point at OpenSearch's HTTP port (not its transport port, 9300) "
                        "and that the cluster is up; a slow cluster: raise opensearch.connect_timeout") from None
    except ConnectionError as exc:
        raise MrosError(f"cannot reach OpenSearch at {target}: {exc.__class__.__name__}",
                        "check the URL and that the cluster is up (`mros opensearch status` for a local node); "
                        "for TLS with a private CA set opensearch.ca_certs") from None
    except TransportError as exc:
        raise MrosError(f"{target} answered {exc.status_code}: {exc.error}", "check the URL points at OpenSearch") from None
    finally:
        probe.close()
    version = str(info.get("version", {}).get("number", "?"))
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 2:
        raise MrosError(f"{target} runs OpenSearch {version}", "mros needs OpenSearch 2.x or 3.x with the k-NN plugin")
    return client


def plugins(client: Any) -> set[str]:
    return {row["component"] for row in client.cat.plugins(format="json")}


def require_knn(client: Any) -> None:
    if "opensearch-knn" not in plugins(client):
        raise MrosError("the cluster has no k-NN plugin (opensearch-knn)",
                        "install it on every node (`bin/opensearch-plugin install opensearch-knn`) or use `mros opensearch up`")
