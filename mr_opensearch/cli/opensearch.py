"""``mros opensearch``: a local OpenSearch node assembled from Maven Central."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a local OpenSearch 3.x node with k-NN, ML Commons and neural search.", no_args_is_help=True)
