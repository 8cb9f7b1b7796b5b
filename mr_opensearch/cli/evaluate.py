"""``mros evaluate``: graded evaluation of a run's model and baselines on a split."""

from __future__ import annotations

from pathlib import Path

import typer

from mr_opensearch.cli._choices import Split
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state
from mr_opensearch.core.errors import MrosError


def register(app: typer.Typer) -> None:
    app.command(name="evaluate")(evaluate)


@handle_errors
def evaluate(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory written by `mros train`."),
    split: list[Split] = typer.Option([Split.test], "--split", "-s", help="Split(s) to evaluate (repeatable)."),
) -> None:
    """Full-corpus nDCG@10, recall@100, judged re-ranking nDCG@10 and grade-separation AUCs, with plots."""
    from trainer.config import load_config
    from trainer.evaluation.run_step import evaluate_run, metrics_markdown
    from trainer.run_data import load_data

    if not (run / "config.yaml").exists():
        raise MrosError(f"{run} is not a run directory (no config.yaml)", "pass the --out directory of `mros train`")
    if not (run / "model").is_dir():
        raise MrosError(f"{run} holds no trained model ({run / 'model'} is missing): its `mros train` did not finish",
                        "rerun `mros train --out RUN` (finished steps are skipped), then evaluate")
    cfg = load_config(run / "config.yaml")
    data = load_data(cfg)
    metrics = evaluate_run(run, cfg, data, progress=show_progress(), log=info, splits=[s.value for s in split])
    if state.json:
        emit_json(metrics)
    elif state.quiet:
        key_values(*((name, model, f"{row['ndcg@10']:.4f}") for name, models in metrics["splits"].items()
                     for model, row in models.items() if isinstance(row.get("ndcg@10"), int | float)))
    else:
        result(metrics_markdown(metrics["splits"]))
