"""``mros label``: train a relevance labeler, apply it, audit labels against engagement.

    mros label train --data DIR --out LABELER
    mros label evaluate --labeler LABELER --labels FILE --catalog FILE
    mros label apply --labeler LABELER --pairs FILE --catalog FILE --out FILE
    mros label simulate-engagement --labels FILE --out LOG [--noise 0.1 --noisy-out FILE]
    mros label audit --labeler LABELER --labels FILE --engagement LOG --catalog FILE --out FILE
    mros label convert-stack --labeler LABELER --trust-pickle
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mr_opensearch.cli._choices import EngagementSplit, Signal
from mr_opensearch.cli._data import DATA_HELP
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._library_log import console_log, library_output_to, run_log_path
from mr_opensearch.cli._output import emit_json, info, key_values, result, show_progress, state
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.paths import data_dir
from mr_opensearch.core.safe_write import check_output_dir, check_output_file, same_file, write_text
from mr_opensearch.core.strict import apply_overrides

app = typer.Typer(help="Relevance labeler (train / evaluate / apply) and engagement-driven label audit.",
                  no_args_is_help=True)

FORCE = typer.Option(False, "--force", help="Replace an existing output file (never needed for a new one).")
TRUST_PICKLE = typer.Option(False, "--trust-pickle", help="Load a labeler saved by an older mros whose stack is a "
                            "pickle (stack.pkl; loading a pickle can run any code: only for labelers you trust).")


def _summary(title: str, data: dict, keys: list[str]) -> str:
    parts = []
    for k in keys:
        v = data.get(k)
        if v is None:
            continue
        parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
    return f"{title}: " + ", ".join(parts)


@app.command("train")
@handle_errors
def train(
    out: Path = typer.Option(..., "--out", "-o", help="Labeler directory to write."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML or TOML labeler config."),
    backbone: str | None = typer.Option(None, "--backbone", help="default | smollm2 | a Hugging Face id or path."),
    epochs: float | None = typer.Option(None, "--epochs", help="Training epochs (fractions allowed)."),
    max_train_pairs: int | None = typer.Option(None, "--max-train-pairs", help="Subsample training pairs."),
    max_eval_pairs: int | None = typer.Option(None, "--max-eval-pairs", help="Subsample validation/test pairs."),
    max_seq_length: int | None = typer.Option(None, "--max-seq-length", help="Token window."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Training batch size."),
    max_minutes: float | None = typer.Option(None, "--max-minutes", help="Stop training after this many minutes."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=1, help="Train at most this many steps (the "
                                         "same model on any machine, unlike --max-minutes)."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    stacking: bool | None = typer.Option(None, "--stacking/--no-stacking",
                                         help="Stack pair features on the model's logits (default: on)."),
    features_encoder: str | None = typer.Option(None, "--features-encoder",
                                                help="Bi-encoder for the cosine feature (default: the base model)."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Count and skip malformed rows."),
) -> None:
    """Fine-tune a 3-class labeler; writes the model, metrics.json and confusion_matrix.png to --out."""
    from trainer.data import skipping_rows_with
    from trainer.labeler.config import load_labeler_config
    from trainer.labeler.train import train_labeler

    check_output_dir(out)
    cfg = load_labeler_config(config)
    cfg = apply_overrides(cfg, {
        "data.dir": data_dir(data, cfg.data.dir), "backbone": backbone, "epochs": epochs,
        "max_seq_length": max_seq_length, "batch_size": batch_size, "max_minutes": max_minutes, "max_steps": max_steps, "threads": threads,
        "stacking": stacking, "features_encoder": features_encoder, "data.max_train_pairs": max_train_pairs,
        "data.max_eval_pairs": max_eval_pairs, "data.on_error": "skip" if skip_bad_rows else None,
    }, what="labeler config")
    with skipping_rows_with("pass --skip-bad-rows to count and skip bad rows"), \
            library_output_to(run_log_path(out), state.debug):
        metrics = train_labeler(cfg, out, progress=show_progress(), log=console_log(info))
    if state.json:
        emit_json(metrics)
    elif state.quiet:
        key_values(out)
    else:
        result(_summary(f"held-out {metrics['evaluated_on']} queries", metrics,
                        ["n", "accuracy", "within1_accuracy", "macro_f1"]))
        result(f"Labeler written to {out} (metrics: {out / 'metrics.json'})")


@app.command("evaluate")
@handle_errors
def evaluate(
    labeler: Path = typer.Option(..., "--labeler", "-l", help="Labeler directory (from `mros label train`)."),
    labels: Path = typer.Option(..., "--labels", help="Graded pairs: query, product_uid, grade or relevance."),
    catalog: Path = typer.Option(..., "--catalog", help="Product catalog (product_uid, product_title)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for metrics.json and confusion_matrix.png."),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    force: bool = FORCE,
    trust_pickle: bool = TRUST_PICKLE,
) -> None:
    """Score a labeler against graded pairs: accuracy, within-1, macro-F1, per-class P/R, confusion."""
    from trainer.data import load_catalog
    from trainer.labeler.io import load_labels
    from trainer.labeler.metrics import classification_metrics, plot_confusion_matrix
    from trainer.labeler.model import Labeler

    if out is not None:
        check_output_dir(out)
        check_output_file(out / "metrics.json", force=force)
    model = Labeler.load(labeler, allow_pickle=trust_pickle)
    cat = load_catalog(catalog)
    frame = load_labels(labels, cat)
    pairs = [(q, cat.text(p)) for q, p in zip(frame["query"], frame["product_uid"], strict=True)]
    probs = model.predict_proba(pairs, batch_size, show_progress())
    metrics = classification_metrics(frame["grade"].to_numpy(), probs.argmax(1))
    if out is not None:
        write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        plot_confusion_matrix(metrics["confusion_matrix"], out / "confusion_matrix.png")
    if state.json:
        emit_json(metrics)
    elif state.quiet:
        key_values(*((key, f"{metrics[key]:.4f}") for key in ("accuracy", "within1_accuracy", "macro_f1")
                     if isinstance(metrics.get(key), int | float)))
    else:
        result(_summary(str(labels), metrics, ["n", "accuracy", "within1_accuracy", "macro_f1"]))


@app.command("apply")
@handle_errors
def apply(
    labeler: Path = typer.Option(..., "--labeler", "-l", help="Labeler directory (from `mros label train`)."),
    pairs: Path = typer.Option(..., "--pairs", help="CSV/JSONL/Parquet with query and product_uid columns."),
    catalog: Path = typer.Option(..., "--catalog", help="Product catalog (product_uid, product_title)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .csv or .jsonl (appended; reruns resume an "
                             "output of this command; any other existing file is refused)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Pairs per batch (written after each batch)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out instead of resuming it."),
    tta: bool = typer.Option(False, "--tta", help="Average over test-time augmentations (3x slower)."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
    trust_pickle: bool = TRUST_PICKLE,
) -> None:
    """Label (query, product) pairs with grades 0/1/2 and calibrated class probabilities."""
    from trainer.data import load_catalog
    from trainer.labeler.apply import apply_labeler, check_resumable, output_format, read_pairs
    from trainer.labeler.model import AUGMENTATIONS, Labeler

    check_output_file(out, inputs=[pairs, catalog], force=force, may_exist=True)
    output_format(out)
    if not force:
        check_resumable(out)  # before loading the model: a wrong --out fails in a second
    if threads:
        import torch

        torch.set_num_threads(threads)
    cat = load_catalog(catalog)
    todo = read_pairs(pairs, cat)
    model = Labeler.load(labeler, allow_pickle=trust_pickle)
    augmentations = tuple(AUGMENTATIONS) if tta else ("identity",)
    summary = apply_labeler(model, todo, cat, out, batch_size, show_progress(), augmentations, log=info, force=force)
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(out)
    else:
        speed = f" at {summary['pairs_per_second']} pairs/s" if summary["pairs_per_second"] else ""
        result(f"Labeled {summary['labeled']} pairs{speed} ({summary['skipped_already_labeled']} already done) "
               f"into {out}: {summary['by_grade']}")


@app.command("simulate-engagement")
@handle_errors
def simulate_engagement_cmd(
    labels: Path = typer.Option(..., "--labels", help="True grades: query, product_uid, grade or relevance."),
    out: Path = typer.Option(..., "--out", "-o", help="Engagement log to write (.csv/.parquet/.jsonl)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog to validate product ids against."),
    split: EngagementSplit = typer.Option(EngagementSplit.all, "--split", help="Queries of one split only (seed 13), or all."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, max=1.0, help="Fraction of labels to corrupt."),
    noisy_out: Path | None = typer.Option(None, "--noisy-out", help="Write the corrupted labels here."),
    sessions_mean: float = typer.Option(200.0, "--sessions-mean", help="Mean searches per query."),
    sessions_sigma: float = typer.Option(1.0, "--sessions-sigma", help="Log-normal traffic spread (0: fixed)."),
    eta: float = typer.Option(1.0, "--eta", help="Position bias: P(examine | rank r) = r^-eta."),
    ranker_strength: float = typer.Option(1.0, "--ranker-strength", help="How strongly the engine ranks by grade."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = FORCE,
) -> None:
    """Generate an engagement log from true grades with a position-based click model."""
    from trainer.config import SplitConfig
    from trainer.data import load_catalog
    from trainer.labeler.engagement import ClickModelConfig, inject_label_noise, simulate_engagement
    from trainer.labeler.io import load_labels, write_frame
    from trainer.splits import split_of

    if noise > 0 and noisy_out is None:
        raise MrosError("--noise needs --noisy-out", "pass --noisy-out FILE for the corrupted labels")
    inputs = [labels, catalog]
    check_output_file(out, inputs=inputs, force=force)
    truth_out = None
    if noisy_out is not None:
        if same_file(noisy_out, out):
            raise MrosError(f"--noisy-out and --out are the same file ({out})", "write them to two files")
        check_output_file(noisy_out, inputs=inputs, force=force, option="--noisy-out")
        truth_out = noisy_out.with_name(noisy_out.stem + ".truth" + noisy_out.suffix)
        check_output_file(truth_out, inputs=[*inputs, out], force=force, option="the true-labels file")
    frame = load_labels(labels, load_catalog(catalog) if catalog else None)
    if split is not EngagementSplit.all:
        cfg = SplitConfig()
        frame = frame[[split_of(q, cfg) == split.value for q in frame["query"]]].reset_index(drop=True)
    click = ClickModelConfig(sessions_mean=sessions_mean, sessions_sigma=sessions_sigma, eta=eta,
                             ranker_strength=ranker_strength, seed=seed)
    log = simulate_engagement(frame, click)
    write_frame(log, out)
    summary = {"pairs": len(log), "queries": int(frame["query"].nunique()), "log": str(out),
               "impressions": int(log["impressions"].sum()), "clicks": int(log["clicks"].sum()),
               "add_to_carts": int(log["add_to_carts"].sum()), "orders": int(log["orders"].sum()),
               "click_model": click.model_dump()}
    if noisy_out is not None:
        noisy = inject_label_noise(frame, noise, seed)
        write_frame(noisy[["query", "product_uid", "true_grade"]].rename(columns={"true_grade": "grade"}),
                    truth_out)
        write_frame(noisy[["query", "product_uid", "grade"]], noisy_out)
        summary["truth"] = str(truth_out)
        summary.update({"noisy_labels": str(noisy_out), "noise_rate": noise, "noisy_pairs": int(noisy["noisy"].sum())})
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(out, *((noisy_out, truth_out) if noisy_out is not None else ()))
    else:
        result(f"Simulated {summary['impressions']} impressions, {summary['clicks']} clicks over "
               f"{summary['pairs']} pairs into {out}"
               + (f"; {summary['noisy_pairs']} corrupted labels in {noisy_out}" if noisy_out else ""))


@app.command("audit")
@handle_errors
def audit(
    labeler: Path = typer.Option(..., "--labeler", "-l", help="Labeler directory: the judge."),
    labels: Path = typer.Option(..., "--labels", help="Labels to audit: query, product_uid, grade."),
    engagement: Path = typer.Option(..., "--engagement", "-e", help="Engagement log (CSV/Parquet/JSONL)."),
    catalog: Path = typer.Option(..., "--catalog", help="Product catalog (product_uid, product_title)."),
    out: Path = typer.Option(..., "--out", "-o", help="Corrected labels (.csv/.parquet/.jsonl)."),
    report: Path | None = typer.Option(None, "--report", help="Audit report JSON (default: OUT.report.json)."),
    judge: list[Path] = typer.Option([], "--judge", help="More labelers for the judge ensemble (repeatable)."),
    signal: Signal = typer.Option(Signal.clicks, "--signal", help="The engagement signal tested against the labels."),
    alpha: float = typer.Option(0.01, "--alpha", help="Benjamini-Hochberg false discovery rate."),
    min_impressions: int = typer.Option(30, "--min-impressions", help="Test only pairs with this many impressions."),
    truth: Path | None = typer.Option(None, "--truth", help="Known true grades: report how much noise was recovered."),
    force: bool = FORCE,
    trust_pickle: bool = TRUST_PICKLE,
) -> None:
    """Flag labels that engagement contradicts (binomial tests), re-judge them, write corrected labels."""
    from trainer.data import load_catalog
    from trainer.labeler.audit import AuditConfig, audit_labels, recovery_report
    from trainer.labeler.engagement import load_engagement
    from trainer.labeler.io import load_labels, write_frame
    from trainer.labeler.model import Labeler

    inputs = [labels, engagement, catalog, truth]
    check_output_file(out, inputs=inputs, force=force)
    report = report or out.with_name(out.stem + ".report.json")
    if same_file(report, out):
        raise MrosError(f"--report and --out are the same file ({out})", "write them to two files")
    check_output_file(report, inputs=inputs, force=force, option="--report")
    config = AuditConfig(signal=signal.value, alpha=alpha, min_impressions=min_impressions)
    cat = load_catalog(catalog)
    frame = load_labels(labels, cat)
    log = load_engagement(engagement)
    judges = [Labeler.load(path, allow_pickle=trust_pickle) for path in (labeler, *judge)]
    corrected, rep = audit_labels(frame, log, judges, cat, config, show_progress(), log=info)
    if truth is not None:
        rep["recovery"] = recovery_report(corrected, load_labels(truth, cat))
    write_frame(corrected, out)
    write_text(report, json.dumps(rep, indent=2) + "\n")
    if state.json:
        emit_json(rep)
    elif state.quiet:
        key_values(out, report)
    else:
        result(f"Audited {rep['pairs']} labels: {rep['tested']} tested, {rep['flagged']} flagged, "
               f"{rep['changed']} changed; corrected labels in {out}, report in {report}")
        if "recovery" in rep:
            r = rep["recovery"]
            result(f"label errors {r['error_rate_before']:.2%} -> {r['error_rate_after']:.2%} "
                   f"({r['errors_fixed']} fixed, {r['errors_introduced']} introduced)")


@app.command("convert-stack")
@handle_errors
def convert_stack(
    labeler: Path = typer.Option(..., "--labeler", "-l", help="Labeler directory saved by an older mros (stack.pkl)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Required: you trust this directory's pickle "
                                      "(unpickling can run any code)."),
) -> None:
    """Rewrite a trusted labeler's pickled stack (stack.pkl) as stack.skops, checked to predict the same."""
    from trainer.labeler.stacking import LEGACY_PICKLE_FILE, convert_legacy_stack

    if not trust_pickle:
        raise MrosError(f"converting {labeler / LEGACY_PICKLE_FILE} unpickles it, which can run any code",
                        "pass --trust-pickle if you trust where this labeler came from; otherwise re-train it "
                        "(`mros label train`)")
    path = convert_legacy_stack(labeler)
    if state.json:
        emit_json({"labeler": str(labeler), "from": str(labeler / LEGACY_PICKLE_FILE), "to": str(path)})
    elif state.quiet:
        key_values(path)
    else:
        result(f"Converted {labeler / LEGACY_PICKLE_FILE} to {path} (same probabilities on 256 probes); "
               "the labeler loads without --trust-pickle now")
