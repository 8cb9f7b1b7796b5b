"""``mros run``: the whole job (labeler, Stage 1, Stage 2, export, deploy, in-engine evaluation, report)."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._data import DATA_HELP
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._library_log import console_log, library_output_to, run_log_path
from mr_opensearch.cli._options import CLUSTER_PANEL, CaCertsOpt, InsecureOpt, UserOpt
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state
from mr_opensearch.core.paths import data_dir


def register(app: typer.Typer) -> None:
    app.command(name="run")(run)


@handle_errors
def run(
    out: Path = typer.Option(Path("runs/main"), "--out", "-o", help="Run directory (created; reused to continue)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or TOML file with train/labeler/opensearch/deploy/engine sections."),
    quick: bool = typer.Option(False, "--quick", help="The quick profile: a seeded sample and few steps (minutes on 2 cores)."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    url: str | None = typer.Option(None, "--url", help="An existing cluster (e.g. https://host:9200); default: a "
                                   "local node.", rich_help_panel=CLUSTER_PANEL),
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    base: str | None = typer.Option(None, "--base", help="Base encoder: Hugging Face id or local path."),
    no_labeler: bool = typer.Option(False, "--no-labeler", help="Skip the labeler (Stage 2 mines contradictions only)."),
) -> None:
    """Run the main job end to end and write RUN/report/index.html. Steps whose outputs exist for the same
    inputs are skipped, so rerunning after a crash continues where it stopped."""
    from mr_opensearch.core.safe_write import check_output_dir
    from mr_opensearch.core.strict import apply_overrides
    from mr_opensearch.job.config import load_run_config
    from mr_opensearch.job.orchestration import run_job
    from trainer.data import skipping_rows_with

    check_output_dir(out)
    cfg = load_run_config(config, "quick" if quick else None)
    folder = data_dir(data, cfg.train.data.dir)
    cfg = apply_overrides(cfg, {
        "train.data.dir": folder, "labeler.data.dir": folder if cfg.labeler.data.dir is None else None,
        "train.model.base": base or None, "use_labeler": False if no_labeler else None, "opensearch.user": user or None,
        "opensearch.ca_certs": ca_certs, "opensearch.verify_certs": False if insecure else None,
    }, what="run config")
    with skipping_rows_with("set `on_error: skip` in the train.data (and labeler.data) section of --config "
                            "to count and skip bad rows"), library_output_to(run_log_path(out), state.debug):
        summary = run_job(cfg, out, url=url, progress=show_progress(), log=console_log(info))
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(summary["report"])
    else:
        for name, value in summary["test_ndcg@10"].items():
            result(f"test nDCG@10  {name:<20} {value:.4f}" if isinstance(value, float) else f"{name}: {value}")
        result(f"in-engine nDCG@10 ({summary['index']}): {summary['engine_ndcg@10']:.4f}")
        result(f"Report: {summary['report']}")
