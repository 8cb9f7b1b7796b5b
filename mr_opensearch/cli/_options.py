"""The options shared by several commands, declared once as ``Annotated`` aliases (as huggingface_hub's CLI
declares its own): a command takes ``url: UrlOpt = None`` instead of repeating the flag and its help.

Two kinds:

- **Output modes** (``--json``, ``--quiet``, ``--no-progress``, ``--debug``): every command has them, and so
  does the root ``mros`` group, so they work before the command name (``mros -q report RUN``) and after it
  (``mros report RUN -q``), with the same effect. Commands do not declare them: :func:`handle_errors
  <mr_opensearch.cli._errors.handle_errors>`, the wrapper of every command, adds the :data:`OUTPUT_OPTIONS`
  a command does not declare itself and sets :data:`~mr_opensearch.cli._output.state` from them while the
  command runs; commands read ``state.json`` / ``state.quiet``.
- **Cluster connection** (``--url``, ``--user``, ``--ca-certs``, ``--insecure``, ``--port``, ``--timeout``,
  ``--retry-budget``, ``--password-prompt``): declared by each command that talks to a cluster, which hands
  them to :class:`~mr_opensearch.cli._cluster.ClusterArgs` (the connection config, then the client). Where the
  cluster is, the password and the retries are described in :mod:`mr_opensearch.cli._cluster`.

In ``--help`` each kind has its own panel ("Output", "Cluster").
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

OUTPUT_PANEL = "Output"
CLUSTER_PANEL = "Cluster"

# --- output modes ----------------------------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print the result as one JSON object on stdout; an error too, as {error, hint, exit_code}.",
    rich_help_panel=OUTPUT_PANEL)]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print only the result's key values, one per line (see docs/cli.md), and errors.",
    rich_help_panel=OUTPUT_PANEL)]
NoProgressOpt = Annotated[bool, typer.Option(
    "--no-progress", help="Hide progress bars (also MROS_NO_PROGRESS=1).", rich_help_panel=OUTPUT_PANEL)]
DebugOpt = Annotated[bool, typer.Option(
    "--debug", help="Show full tracebacks on errors, and the libraries' warnings, logs and progress bars "
    "(otherwise in the run's logs/mros.log).", rich_help_panel=OUTPUT_PANEL)]

# parameter name -> alias, in the order they are added to a command (all default to False)
OUTPUT_OPTIONS: dict[str, Any] = {"as_json": JsonOpt, "quiet": QuietOpt, "no_progress": NoProgressOpt,
                                  "debug": DebugOpt}

# --- cluster connection ----------------------------------------------------------------------------------------

UrlOpt = Annotated[str | None, typer.Option(
    "--url", help="The cluster, e.g. https://host:9200, or several of its nodes comma-separated (a node lost is "
    "then survived) (default: $MROS_OPENSEARCH_URL, else the local node or cluster of `mros opensearch up`, all "
    "its nodes).", rich_help_panel=CLUSTER_PANEL)]
UserOpt = Annotated[str | None, typer.Option(
    "--user", help="Basic-auth user (password from $MROS_OPENSEARCH_PASSWORD).", rich_help_panel=CLUSTER_PANEL)]
CaCertsOpt = Annotated[Path | None, typer.Option(
    "--ca-certs", help="CA bundle for a cluster with a private CA.", rich_help_panel=CLUSTER_PANEL)]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure", help="Do not verify the cluster's TLS certificate.", rich_help_panel=CLUSTER_PANEL)]
PortOpt = Annotated[int, typer.Option(
    "--port", help="Port of the local node when no URL is given.", rich_help_panel=CLUSTER_PANEL)]
def _positive(value: float) -> float:
    if value <= 0:
        raise typer.BadParameter(f"{value:g} is not a number of seconds above 0")
    return value


TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", callback=_positive, help="Seconds to wait for one cluster request (above 0).",
    rich_help_panel=CLUSTER_PANEL)]
RetryBudgetOpt = Annotated[float, typer.Option(
    "--retry-budget", min=0, help="Seconds one cluster request is retried for (429, 503, resets, timeouts, a "
    "restarting node) before mros gives up.", rich_help_panel=CLUSTER_PANEL)]
PasswordPromptOpt = Annotated[bool, typer.Option(
    "--password-prompt", help="Ask for the password instead of reading $MROS_OPENSEARCH_PASSWORD (from a pipe: "
    "its first line).", rich_help_panel=CLUSTER_PANEL)]

# the defaults, shared by the commands and ClusterArgs
DEFAULT_PORT = 9200
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_BUDGET = 120.0
