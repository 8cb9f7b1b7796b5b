"""Connecting to an OpenSearch cluster: URL, basic auth, TLS, and a clear error when it is not there.

Every request of the client goes through :mod:`mr_opensearch.retry_policy` (429/502/503/504, resets,
refused connections and timeouts retried with backoff and ``Retry-After``, within ``retry_budget_s``
and ``retry_max_attempts`` per request). The first ping has its own short budget,
``connect_timeout`` (at most ``timeout``): a port that accepts but never answers fails in that many
seconds.

The password is read from ``MROS_OPENSEARCH_PASSWORD`` when not given, so it stays out of config files
and shell history.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    connect_timeout: float = Field(10.0, gt=0, description="seconds the first ping may take, retries included "
                                   "(at most timeout)")
    retry_budget_s: float = Field(120.0, ge=0, description="seconds one request is retried for (429, 503, resets, "
                                  "timeouts, a restarting node) before mros gives up")
    retry_max_attempts: int = Field(20, ge=1, description="attempts one request gets at most")


MAX_PARALLEL_REQUESTS = 64
"""Connections the client keeps per host: the most parallel requests one client serves without
opening and discarding extra ones (the in-engine evaluation's client count is bounded by it)."""


def connect(config: ClusterConfig, url: str | None = None, on_retry: Callable[[str], None] | None = None) -> Any:
    """An ``opensearchpy.OpenSearch`` client that has answered a ping (raises :class:`MrosError` otherwise).

    ``on_retry`` gets a line for a person before each retry of a request."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import AuthenticationException, ConnectionError, TransportError

    from mr_opensearch.retry_policy import RetriesExhausted, RetryPolicy, transport_class

    target = (url or config.url or "").rstrip("/")
    if not target:
        raise MrosError("no cluster URL", "pass --url or start a node with `mros opensearch up`")
    password = config.password or os.environ.get("MROS_OPENSEARCH_PASSWORD")
    auth = (config.user, password or "") if config.user else None
    if config.ca_certs is not None and not Path(config.ca_certs).exists():
        raise MrosError(f"CA bundle {config.ca_certs} not found", "fix opensearch.ca_certs in the config")
    client = OpenSearch(hosts=[target], http_auth=auth, verify_certs=config.verify_certs,
                        ca_certs=str(config.ca_certs) if config.ca_certs else None, ssl_show_warn=False,
                        timeout=config.timeout, pool_maxsize=MAX_PARALLEL_REQUESTS, transport_class=transport_class(),
                        retry_policy=RetryPolicy(budget_s=config.retry_budget_s, max_attempts=config.retry_max_attempts,
                                                 on_retry=on_retry))
    # each failed attempt is reported by the retry policy (on_retry, RetriesExhausted); opensearch-py's own
    # warning with a traceback per failed attempt would only repeat it
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    within = min(config.connect_timeout, config.timeout)
    ping = RetryPolicy(budget_s=within, max_attempts=config.retry_max_attempts, max_backoff_s=2.0)
    try:
        info = client.transport.perform_request_under(ping, "GET", "/", timeout=within)
    except AuthenticationException:
        raise MrosError(f"{target} refused the credentials", "check opensearch.user and MROS_OPENSEARCH_PASSWORD") from None
    except (ConnectionError, RetriesExhausted) as exc:
        failure = exc.message if isinstance(exc, RetriesExhausted) else exc.__class__.__name__
        raise MrosError(f"cannot reach OpenSearch at {target} within {within:g} s: {failure}",
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
