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
    timeout: float = 60.0
    port: int = Field(9200, description="port of the local node when url is null")
    heap: str = Field("1g", description="JVM heap of the local node when url is null")


MAX_PARALLEL_REQUESTS = 64
"""Connections the client keeps per host: the most parallel requests one client serves without
opening and discarding extra ones (the in-engine evaluation's client count is bounded by it)."""


def check_url(url: str) -> str:
    """``url`` without a trailing slash when it is ``http(s)://host[:port][/path]``; a usage error
    (exit 2) for a missing scheme, another scheme, no host or a port that is not 1..65535."""
    hint = "write it as http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:9200"
    target = url.strip().rstrip("/")
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not target.lower().startswith(parts.scheme.lower() + "://"):
        raise MrosError(f"cluster URL {url!r} has no http:// or https:// scheme", hint, exit_code=2)
    try:
        port = parts.port
    except ValueError as exc:
        raise MrosError(f"cluster URL {url!r} has an invalid port ({exc})", hint, exit_code=2) from None
    if not parts.hostname:
        raise MrosError(f"cluster URL {url!r} has no host", hint, exit_code=2)
    if port == 0:
        raise MrosError(f"cluster URL {url!r} has an invalid port (0)", hint, exit_code=2)
    return target


def _why_unreachable(exc: Any, timeout: float) -> str:
    """What an opensearch-py ``ConnectionError`` means, in words."""
    cause = getattr(exc, "info", None)
    text = f"{cause!r} {getattr(exc, 'error', '')}"
    if exc.__class__.__name__ == "ConnectionTimeout":
        return f"no answer within {timeout:g} s (--timeout) per attempt"
    if "Connection refused" in text:
        return "connection refused: nothing listens there"
    if "BadStatusLine" in text or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the server there does not speak HTTP"
    return exc.__class__.__name__


def connect(config: ClusterConfig, url: str | None = None) -> Any:
    """An ``opensearchpy.OpenSearch`` client that has answered a ping (raises :class:`MrosError` otherwise)."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import AuthenticationException, ConnectionError, TransportError

    target = (url or config.url or "").rstrip("/")
    if not target:
        raise MrosError("no cluster URL", "pass --url or start a node with `mros opensearch up`")
    target = check_url(target)
    password = config.password or os.environ.get("MROS_OPENSEARCH_PASSWORD")
    auth = (config.user, password or "") if config.user else None
    if config.ca_certs is not None and not Path(config.ca_certs).exists():
        raise MrosError(f"CA bundle {config.ca_certs} not found", "fix opensearch.ca_certs in the config")
    client = OpenSearch(hosts=[target], http_auth=auth, verify_certs=config.verify_certs,
                        ca_certs=str(config.ca_certs) if config.ca_certs else None, ssl_show_warn=False,
                        timeout=config.timeout, max_retries=2, retry_on_timeout=True, pool_maxsize=MAX_PARALLEL_REQUESTS)
    try:
        info = client.info()
    except AuthenticationException:
        raise MrosError(f"{target} refused the credentials", "check opensearch.user and MROS_OPENSEARCH_PASSWORD") from None
    except ConnectionError as exc:
        raise MrosError(f"cannot reach OpenSearch at {target}: {_why_unreachable(exc, config.timeout)}",
                        "check the URL and that the cluster is up (`mros opensearch status` for a local node); "
                        "for TLS with a private CA set opensearch.ca_certs") from None
    except TransportError as exc:
        raise MrosError(f"{target} answered {exc.status_code}: {exc.error}", "check the URL points at OpenSearch") from None
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
