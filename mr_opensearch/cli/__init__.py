"""The ``mros`` command line: one module per command group, assembled here."""

from __future__ import annotations

import typer

from mr_opensearch.cli import deploy as deploy_cli
from mr_opensearch.cli import embed as embed_cli
from mr_opensearch.cli import eval as eval_cli
from mr_opensearch.cli import export as export_cli
from mr_opensearch.cli import indices as indices_cli
from mr_opensearch.cli import label as label_cli
from mr_opensearch.cli import opensearch as opensearch_cli
from mr_opensearch.cli import report as report_cli
from mr_opensearch.cli import run as run_cli
from mr_opensearch.cli import search as search_cli
from mr_opensearch.cli import serve as serve_cli
from mr_opensearch.cli import train as train_cli
from mr_opensearch.cli._errors import JsonErrorsGroup
from mr_opensearch.cli._options import DebugOpt, JsonOpt, NoProgressOpt, QuietOpt
from mr_opensearch.cli._output import hide_library_progress, set_modes, show_progress
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
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    no_progress: NoProgressOpt = False,
    debug: DebugOpt = False,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    # the output modes given before the command name; every command also takes them after its name
    set_modes(as_json=as_json, quiet=quiet, no_progress=no_progress, debug=debug)
    if not show_progress():
        # bars drawn by libraries (transformers' weight loading, downloads), back on when the command ends
        ctx.call_on_close(hide_library_progress())


app.add_typer(opensearch_cli.app, name="opensearch")
app.add_typer(label_cli.app, name="label")
train_cli.register(app)
eval_cli.register(app)
export_cli.register(app)
report_cli.register(app)
run_cli.register(app)
deploy_cli.register(app)
embed_cli.register(app)
indices_cli.register(app)
search_cli.register(app)
serve_cli.register(app)
eval_cli.register_old_name(app)


def main() -> None:
    app()
