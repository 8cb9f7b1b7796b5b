"""``mros report``: a self-contained HTML page (and PNG figures) for a run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._output import emit_json, key_values, result, state


def register(app: typer.Typer) -> None:
    app.command(name="report")(report)


@handle_errors
def report(
    run: Path = typer.Argument(..., help="Run directory of `mros train` or `mros run`."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default RUN/report)."),
    labeler: Path | None = typer.Option(None, "--labeler", help="Labeler directory (default RUN/labeler)."),
    ablation: Path | None = typer.Option(None, "--ablation", help="Ablation rows (default RUN/ablation.json), e.g. from benchmarks/stage2_ablation.py."),
) -> None:
    """Write RUN/report/index.html (metrics against BM25, the base model and MNRL, score histograms with the
    learned boundaries, the labeler's confusion matrix, the ablation, in-engine latency) and its figures as PNG."""
    from mr_opensearch.job.report import build_report

    page = build_report(run, out, labeler, ablation)
    figures = sorted(str(p) for p in (page.parent / "figures").glob("*.png"))
    if state.json:
        emit_json({"html": str(page), "figures": figures})
    elif state.quiet:
        key_values(page)
    else:
        result(f"Report written to {page} ({len(figures)} figures in {page.parent / 'figures'})")
