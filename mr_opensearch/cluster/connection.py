"""Connecting to an OpenSearch cluster: URL, basic auth, TLS, and a clear error when it is not there.

The URL may name several nodes of one cluster, comma-separated (``http://a:9200,http://b:9200``;
:func:`split_urls`): the client spreads requests over them, and a node that refuses the connection or
does not answer in time is set aside and the request goes to the next one (see
:mod:`mr_opensearch.cluster.retry_policy`), so losing the node mros happens to talk to costs a retry,
not the request.

Every request of the client goes through :mod:`mr_opensearch.cluster.retry_policy` (429/502/503/504, resets,
refused connections and timeouts retried with backoff and ``Retry-After``, within ``retry_budget_s``
and ``retry_max_attempts`` per request). The first ping has its own short budget,
``connect_timeout`` (at most ``timeout``): a port that accepts but never answers fails in that many
seconds.

The password is read from ``MROS_OPENSEARCH_PASSWORD`` when not given, so it stays out of config files
and shell history. A URL with credentials in it (``https://user:password@host``) is refused, and any
URL a message shows goes through :func:`redact_url`. TLS certificates are verified unless
``verify_certs`` is off (``--insecure``); each way the first request can fail (untrusted or wrong CA,
expired certificate, plain HTTP to an HTTPS port and back, refused or missing credentials) is turned
into a :class:`MrosError` that says what to change (:func:`explain_tls_error`, :func:`explain_http_error`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.core.strict import StrictModel


class ClusterConfig(StrictModel):
    """Where the cluster is. ``url: null`` means the local node of ``mros opensearch up``."""

    url: str | None = Field(None, description="e.g. https://search.example.com:9200, or several nodes of one cluster "
                            "comma-separated; null: start a local node")
    user: str | None = None
    password: str | None = Field(None, description="default: $MROS_OPENSEARCH_PASSWORD")
    verify_certs: bool = True
    ca_certs: Path | None = Field(None, description="CA bundle for a cluster with a private CA")
    timeout: float = Field(60.0, gt=0, description="seconds one request may take")
    port: int = Field(9200, description="port of the local node when url is null")
    heap: str = Field("1g", description="JVM heap of the local node when url is null")
    connect_timeout: float = Field(10.0, gt=0, description="seconds the first ping (is the cluster there?) may "
                                   "take, retries included (at most timeout): a silent host fails this fast")
    retry_budget_s: float = Field(120.0, ge=0, description="seconds one request is retried for (429, 503, resets, "
                                  "timeouts, a restarting node) before mros gives up")
    retry_max_attempts: int = Field(20, ge=1, description="attempts one request gets at most")


PING_ATTEMPTS = 3
"""Attempts of the first ping: a passing 503 or reset is retried, a server that never speaks HTTP is not
waited on for the whole budget."""

MAX_PARALLEL_REQUESTS = 64
"""Connections the client keeps per host: the most parallel requests one client serves without
opening and discarding extra ones (the in-engine evaluation's client count is bounded by it)."""


def _split_scheme(url: str) -> tuple[str, str]:
    scheme, sep, rest = url.partition("://")
    return (scheme + sep, rest) if sep else ("", url)


def redact_url(url: str) -> str:
    """``url`` (or a comma-separated list of URLs) fit to print: any ``user:password@`` in it becomes ``***@``."""
    if "," in url:
        return ",".join(redact_url(part) for part in url.split(","))
    scheme, rest = _split_scheme(url)
    at = rest.rfind("@")
    return url if at < 0 else f"{scheme}***@{rest[at + 1:]}"


def refuse_url_credentials(url: str) -> None:
    """Raise (exit 2) when ``url`` carries credentials (``https://user:password@host``): they would end up in
    shell history, config files and logs. The message shows the URL redacted."""
    if "@" in _split_scheme(url)[1]:
        raise UsageError(f"the cluster URL {redact_url(url)} has credentials in it; mros does not take them from a URL",
                         "remove them from the URL; give the user with --user (opensearch.user) and the password in "
                         "MROS_OPENSEARCH_PASSWORD or with --password-prompt", parameters="url")


def _http_twin(target: str) -> str:
    return "http://" + target.split("://", 1)[1] if target.startswith("https://") else target


def _https_twin(target: str) -> str:
    return "https://" + target.split("://", 1)[1] if target.startswith("http://") else target


def explain_tls_error(exc: Exception, target: str, config: ClusterConfig) -> MrosError:
    """A TLS handshake failure (an ``opensearchpy.SSLError``) as a message that says what to fix."""
    text = f"{getattr(exc, 'error', '')} {getattr(exc, 'info', '')}"
    lower = text.lower()
    insecure = "(--insecure skips the check; for testing only)"
    if "certificate has expired" in lower:
        return MrosError(f"the TLS certificate of {target} has expired (certificate verify failed)",
                         f"renew the cluster's certificate, or check this machine's clock {insecure}")
    if "hostname mismatch" in lower or "ip address mismatch" in lower:
        return MrosError(f"the TLS certificate of {target} is not issued for that host name (certificate verify failed)",
                         f"connect with a host name the certificate lists {insecure}")
    if "certificate verify failed" in lower or "certificate_verify_failed" in lower:
        if config.ca_certs is None:
            return MrosError(f"certificate verify failed: {target} presents a TLS certificate this machine does not trust",
                             "pass --ca-certs CA.pem (opensearch.ca_certs in a config) with the CA that signed the "
                             f"cluster's certificate {insecure}")
        return MrosError(f"certificate verify failed: the TLS certificate of {target} is not signed by the CA in "
                         f"{config.ca_certs}", "pass --ca-certs with the CA bundle that signed the cluster's certificate")
    if "wrong version number" in lower or "wrong_version_number" in lower or "record layer failure" in lower:
        return MrosError(f"{target} does not speak TLS (the TLS handshake got a plain HTTP answer)",
                         f"use {_http_twin(target)} for a cluster without TLS")
    return MrosError(f"TLS handshake with {target} failed: {getattr(exc, 'error', exc)}",
                     "check the URL's scheme and port, and --ca-certs for a private CA")


def explain_http_error(exc: Any, target: str, config: ClusterConfig) -> MrosError:
    """An HTTP error answer to the first request (``opensearchpy.TransportError`` with a status)."""
    body = str(exc.error)
    if exc.status_code == 401:
        if not config.user:
            return MrosError(f"{target} requires authentication (401)",
                             "pass --user (opensearch.user) and set MROS_OPENSEARCH_PASSWORD or use --password-prompt")
        return MrosError(f"{target} refused the credentials of user {config.user!r} (401)",
                         "check --user (opensearch.user) and the password in MROS_OPENSEARCH_PASSWORD")
    if exc.status_code == 400 and "plain http request was sent to https port" in body.lower():
        return MrosError(f"{target} is an HTTPS port: the plain HTTP request was refused",
                         f"use {_https_twin(target)}")
    return MrosError(f"{target} answered {exc.status_code}: {body[:300]}", "check the URL points at OpenSearch")


def check_url(url: str) -> str:
    """``url`` without a trailing slash when it is ``http(s)://host[:port][/path]``; a usage error
    (exit 2) for a missing scheme, another scheme, no host or a port that is not 1..65535."""
    hint = "write it as http://HOST:PORT or https://HOST:PORT, e.g. http://127.0.0.1:9200"
    target = url.strip().rstrip("/")
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https") or not target.lower().startswith(parts.scheme.lower() + "://"):
        raise UsageError(f"cluster URL {url!r} has no http:// or https:// scheme", hint, parameters="url")
    try:
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"cluster URL {url!r} has an invalid port ({exc})", hint, parameters="url") from None
    if not parts.hostname:
        raise UsageError(f"cluster URL {url!r} has no host", hint, parameters="url")
    if port == 0:
        raise UsageError(f"cluster URL {url!r} has an invalid port (0)", hint, parameters="url")
    return target


def split_urls(text: str) -> list[str]:
    """The node URLs of ``text``: one URL or several comma-separated, each checked (:func:`check_url`, no
    credentials in it), duplicates dropped; a usage error when none is left."""
    urls: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        refuse_url_credentials(part.strip())
        url = check_url(part)
        if url not in urls:
            urls.append(url)
    if not urls:
        raise UsageError(f"cluster URL {text!r} names no node", "write it as http://HOST:PORT, or several "
                         "comma-separated: http://HOST1:PORT,http://HOST2:PORT", parameters="url")
    return urls


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


def connect(config: ClusterConfig, url: str | None = None, on_retry: Callable[[str], None] | None = None) -> Any:
    """An ``opensearchpy.OpenSearch`` client that has answered a ping (raises :class:`MrosError` otherwise).

    Every request of the returned client goes through :class:`mr_opensearch.cluster.retry_policy.RetryPolicy`
    (``config.retry_budget_s`` per request); ``on_retry`` gets a line for a person before each retry. The
    first ping has its own short budget, the shorter of ``config.connect_timeout`` and ``config.timeout``,
    and does not retry a refused connection, so a wrong port or a silent host fails in seconds."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import (
        AuthenticationException,
        ConnectionError,
        ConnectionTimeout,
        SSLError,
        TransportError,
    )

    from mr_opensearch.cluster.json_serializer import FastJSONSerializer
    from mr_opensearch.cluster.retry_policy import RetriesExhausted, RetryPolicy, transport_class

    target = (url or config.url or "").rstrip("/")
    if not target:
        raise MrosError("no cluster URL", "pass --url or start a node with `mros opensearch up`")
    hosts = split_urls(target)
    target = ",".join(hosts)
    password = config.password or os.environ.get("MROS_OPENSEARCH_PASSWORD")
    if config.user and not password:
        raise MrosError(f"user {config.user!r} given but no password",
                        "set MROS_OPENSEARCH_PASSWORD or pass --password-prompt")
    auth = (config.user, password or "") if config.user else None
    if config.ca_certs is not None and not Path(config.ca_certs).is_file():
        raise MrosError(f"CA bundle {config.ca_certs} not found (or not a file)",
                        "pass --ca-certs FILE (PEM), or fix opensearch.ca_certs in the config")
    # retry_on_timeout: a node that does not answer in time is set aside like one that refuses, so the
    # policy's next attempt goes to another node (the policy alone decides whether there is one)
    client = OpenSearch(hosts=hosts, http_auth=auth, retry_on_timeout=True, verify_certs=config.verify_certs,
                        ca_certs=str(config.ca_certs) if config.ca_certs else None, ssl_show_warn=False,
                        timeout=config.timeout, pool_maxsize=MAX_PARALLEL_REQUESTS, transport_class=transport_class(),
                        serializer=FastJSONSerializer(),
                        retry_policy=RetryPolicy(budget_s=config.retry_budget_s, max_attempts=config.retry_max_attempts,
                                                 on_retry=on_retry))
    # each failed attempt is reported by the retry policy (on_retry, RetriesExhausted); opensearch-py's own
    # warning with a traceback per failed attempt would only repeat it
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    within = min(config.connect_timeout, config.timeout)
    # one node that refuses is not the cluster: with several, each gets its try before mros gives up
    ping = RetryPolicy(budget_s=within, max_attempts=PING_ATTEMPTS + len(hosts) - 1, max_backoff_s=2.0,
                       retry_refused=len(hosts) > 1)
    try:
        info = client.transport.perform_request_under(ping, "GET", "/", timeout=within)
    except AuthenticationException as exc:
        raise explain_http_error(exc, target, config) from None
    except SSLError as exc:
        raise explain_tls_error(exc, target, config) from None
    except RetriesExhausted as exc:
        if isinstance(exc.last, ConnectionTimeout):
            raise MrosError(f"OpenSearch at {target} did not answer within {within:g}s",
                            "check the URL and port point at OpenSearch's HTTP port (not its transport port, 9300) "
                            "and that the cluster is up; a slow cluster: raise opensearch.connect_timeout") from None
        why = _why_unreachable(exc.last, config.timeout) if isinstance(exc.last, ConnectionError) else exc.message
        raise MrosError(f"cannot reach OpenSearch at {target}: {why} ({exc.attempts} attempts in {exc.seconds:.1f}s)",
                        "check the URL (scheme, host, port) and that the cluster is up (`mros opensearch status` "
                        "for a local node)") from None
    except ConnectionError as exc:
        raise MrosError(f"cannot reach OpenSearch at {target}: {_why_unreachable(exc, config.timeout)}",
                        "check the URL (scheme, host, port) and that the cluster is up (`mros opensearch status` "
                        "for a local node)") from None
    except TransportError as exc:
        raise explain_http_error(exc, target, config) from None
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
