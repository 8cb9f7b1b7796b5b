"""The cluster options every serving command takes (``--url``, ``--user``, ``--ca-certs``, ``--insecure``).

Where the cluster is, in order: ``--url``; ``$MROS_OPENSEARCH_URL``; the local node of
``mros opensearch up`` on ``--port`` (default 9200) when one is running. The password comes from
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
from typing import Any

import typer

from mr_opensearch.core.errors import MrosError

URL = typer.Option(None, "--url", help="The cluster, e.g. https://host:9200 (default: $MROS_OPENSEARCH_URL, "
                   "else the local node of `mros opensearch up`).")
USER = typer.Option(None, "--user", help="Basic-auth user (password from $MROS_OPENSEARCH_PASSWORD).")
CA_CERTS = typer.Option(None, "--ca-certs", help="CA bundle for a cluster with a private CA.")
INSECURE = typer.Option(False, "--insecure", help="Do not verify the cluster's TLS certificate.")
PORT = typer.Option(9200, "--port", help="Port of the local node when no URL is given.")
TIMEOUT = typer.Option(30.0, "--timeout", help="Seconds to wait for one cluster request.")
RETRY_BUDGET = typer.Option(120.0, "--retry-budget", min=0, help="Seconds one cluster request is retried for "
                             "(429, 503, resets, timeouts, a restarting node) before mros gives up.")
PASSWORD_PROMPT = typer.Option(False, "--password-prompt", help="Ask for the password instead of reading "
                               "$MROS_OPENSEARCH_PASSWORD (from a pipe: its first line).")


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
    url: str | None = None
    user: str | None = None
    ca_certs: Path | None = None
    insecure: bool = False
    port: int = 9200
    timeout: float = 30.0
    password_prompt: bool = False
    retry_budget: float = 120.0

    def resolve_url(self) -> str:
        if self.url:
            return self.url
        if os.environ.get("MROS_OPENSEARCH_URL"):
            return os.environ["MROS_OPENSEARCH_URL"]
        from mr_opensearch.cluster.node import lifecycle, state

        node = lifecycle.running_state(state.node_dir(self.port))
        if node is None:
            raise MrosError(f"no cluster given and no local node running on port {self.port}",
                            "pass --url https://host:9200, set MROS_OPENSEARCH_URL, or start one with "
                            "`mros opensearch up`")
        return node.url

    def connect(self) -> Any:
        from mr_opensearch.cli._output import info
        from mr_opensearch.cluster.connection import ClusterConfig, connect

        password = read_password() if self.password_prompt else None
        config = ClusterConfig(url=self.resolve_url(), user=self.user, password=password,
                               verify_certs=not self.insecure, ca_certs=self.ca_certs, timeout=self.timeout,
                               retry_budget_s=self.retry_budget)
        return connect(config, on_retry=lambda line: info(f"retry: {line}"))
