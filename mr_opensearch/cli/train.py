"""``mros train``: graded data -> Stage 1 -> (Stage 2) -> export -> evaluation with baselines -> boundaries."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._data import DATA_HELP
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._library_log import console_log, library_output_to, run_log_path
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state


def register(app: typer.Typer) -> None:
    app.command(name="train")(train)


@handle_errors
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (created; reused to resume)."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or TOML config file (defaults otherwise)."),
    base: str | None = typer.Option(None, "--base", help="Base encoder: Hugging Face id or local path (overrides the config)."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Count and skip malformed rows instead of stopping."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Ignore existing checkpoints and step markers' resume."),
) -> None:
    """Train Stage 1 (and Stage 2 when the config enables it), evaluate against BM25, the base model and the
    MNRL recipe, learn grade boundaries, and export for ML Commons."""
    from mr_opensearch.core.paths import data_dir
    from mr_opensearch.core.safe_write import check_output_dir
    from mr_opensearch.core.strict import apply_overrides
    from trainer.config import load_config
    from trainer.data import skipping_rows_with
    from trainer.run import train_run

    check_output_dir(out)
    cfg = load_config(config)
    cfg = apply_overrides(cfg, {"data.dir": data_dir(data, cfg.data.dir), "model.base": base,
                                "data.on_error": "skip" if skip_bad_rows else None})
    with skipping_rows_with("pass --skip-bad-rows to count and skip bad rows"), \
            library_output_to(run_log_path(out), state.debug):
        metrics = train_run(cfg, out, progress=show_progress(), resume=not no_resume, log=console_log(info))
    if state.json:
        emit_json(metrics)
    elif state.quiet:
        key_values(out)
    else:
        result((out / "metrics.md").read_text())
        result(f"Run written to {out} (model card: {out / 'README.md'})")
