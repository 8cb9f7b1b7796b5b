"""The connection of the commands that talk to a cluster, built from their cluster options (``--url``, ``--user``,
``--ca-certs``, ``--insecure``, ...: :mod:`mr_opensearch.cli._options`).

Where the cluster is, in order: ``--url`` (one URL, or several nodes comma-separated);
``$MROS_OPENSEARCH_URL``; the local cluster of ``mros opensearch up --nodes N`` whose first node is on
``--port`` (every node's URL, from its ``cluster.json``); the local node of ``mros opensearch up`` on
``--port`` (default 9200) when one is running. The password comes from
``$MROS_OPENSEARCH_PASSWORD`` (or a prompt with ``--password-prompt``), never from the command line
nor from a URL (``https://user:password@host`` is refused, see :mod:`mr_opensearch.cluster.connection`).
Failed requests are retried (:mod:`mr_opensearch.cluster.retry_policy`) for up to ``--retry-budget`` seconds each;
each retry is announced on stderr (silenced by ``--quiet``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mr_opensearch.cli._options import DEFAULT_PORT, DEFAULT_RETRY_BUDGET, DEFAULT_TIMEOUT
from mr_opensearch.core.errors import MrosError

if TYPE_CHECKING:
    from mr_opensearch.cluster.connection import ClusterConfig

def read_password() -> str:
    """The password for ``--password-prompt``: asked on the terminal without echo, or, when standard input
    is not a terminal (a script: ``printf '%s\\n' "$PW" | mros ...``), its first line, read silently."""
    if sys.stdin is not None and sys.stdin.isatty():
        return typer.prompt("OpenSearch password", hide_input=True, err=True)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise MrosError("--password-prompt: no password on standard input",
                        "type it at the prompt, pipe it in as the first line, or set MROS_OPENSEARCH_PASSWORD")
    return password


@dataclass
class ClusterArgs:
    """The values of a command's cluster options (in the order of its signature)."""

    url: str | None = None
    user: str | None = None
    ca_certs: Path | None = None
    insecure: bool = False
    port: int = DEFAULT_PORT
    timeout: float = DEFAULT_TIMEOUT
    password_prompt: bool = False
    retry_budget: float = DEFAULT_RETRY_BUDGET

    def resolve_url(self) -> str:
        if self.url:
            return self.url
        if os.environ.get("MROS_OPENSEARCH_URL"):
            return os.environ["MROS_OPENSEARCH_URL"]
        from mr_opensearch.cluster.node import lifecycle, state

        cluster = lifecycle.cluster_at(self.port)
        if cluster is not None:
            return ",".join(cluster.urls)
        node = lifecycle.running_state(state.node_dir(self.port))
        if node is None:
            raise MrosError(f"no cluster given and no local node running on port {self.port}",
                            "pass --url https://host:9200, set MROS_OPENSEARCH_URL, or start one with "
                            "`mros opensearch up`")
        return node.url

    def config(self) -> ClusterConfig:
        """The connection config: the cluster's URL resolved, the password read (asked for with
        ``--password-prompt``)."""
        from mr_opensearch.cluster.connection import ClusterConfig

        password = read_password() if self.password_prompt else None
        return ClusterConfig(url=self.resolve_url(), user=self.user, password=password,
                             verify_certs=not self.insecure, ca_certs=self.ca_certs, timeout=self.timeout,
                             retry_budget_s=self.retry_budget)

    def connect(self) -> Any:
        """A client of the cluster; each retry is announced on stderr (silenced by ``--quiet``)."""
        from mr_opensearch.cli._output import info
        from mr_opensearch.cluster.connection import connect

        return connect(self.config(), on_retry=lambda line: info(f"retry: {line}"))
