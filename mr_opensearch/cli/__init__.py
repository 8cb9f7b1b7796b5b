"""The ``mros`` command line: one module per command group, assembled here."""

from __future__ import annotations

import typer

from mr_opensearch.cli import deploy as deploy_cli
from mr_opensearch.cli import eval as eval_cli
from mr_opensearch.cli import evaluate as evaluate_cli
from mr_opensearch.cli import export as export_cli
from mr_opensearch.cli import indices as indices_cli
from mr_opensearch.cli import label as label_cli
from mr_opensearch.cli import opensearch as opensearch_cli
from mr_opensearch.cli import report as report_cli
from mr_opensearch.cli import run as run_cli
from mr_opensearch.cli import search as search_cli
from mr_opensearch.cli import train as train_cli
from mr_opensearch.cli._errors import JsonErrorsGroup
from mr_opensearch.cli._output import hide_library_progress, show_progress, state
from mr_opensearch.core.version import __version__

app = typer.Typer(
    name="mros",
    cls=JsonErrorsGroup,
    help="Mine and Refine for OpenSearch: train graded-relevance embeddings and deploy them into OpenSearch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mros {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors, and the libraries' warnings, "
                               "logs and progress bars (otherwise in the run's logs/mros.log)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the result's key values, one per line (see docs/cli.md), and errors."),
    no_progress: bool = typer.Option(
        False, "--no-progress", help="Hide progress bars (also MROS_NO_PROGRESS=1)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.debug = debug
    state.quiet = quiet
    if no_progress:
        state.progress = False
    if not show_progress():
        # bars drawn by libraries (transformers' weight loading, downloads), back on when the command ends
        ctx.call_on_close(hide_library_progress())


app.add_typer(opensearch_cli.app, name="opensearch")
app.add_typer(label_cli.app, name="label")
train_cli.register(app)
evaluate_cli.register(app)
export_cli.register(app)
report_cli.register(app)
run_cli.register(app)
deploy_cli.register(app)
indices_cli.register(app)
search_cli.register(app)
eval_cli.register(app)


def main() -> None:
    app()
