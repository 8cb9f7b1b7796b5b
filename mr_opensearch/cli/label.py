"""``mros label``: train a relevance labeler, apply it, audit labels against engagement.

    mros label train --data DIR --out LABELER
    mros label evaluate --labeler LABELER --labels FILE --catalog FILE
    mros label apply --labeler LABELER --pairs FILE --catalog FILE --out FILE
    mros label simulate-engagement --labels FILE --out LOG [--noise 0.1 --noisy-out FILE]
    mros label simulate-engagement --labels FILE --format ubi --out DIR [--index-url URL]
    mros label audit --labeler LABELER --labels FILE --engagement LOG --catalog FILE --out FILE
    mros label audit --labels FILE --ubi URL|DIR --catalog FILE --out FILE [--labeler LABELER]
    mros label export --labels FILE --format srw --out DIR [--put]
    mros label convert-stack --labeler LABELER --trust-pickle
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mr_opensearch.cli._choices import (
    EngagementFormat,
    EngagementSplit,
    Estimator,
    ExportFormat,
    OnFlag,
    RanksBy,
    Signal,
)
from mr_opensearch.cli._data import DATA_HELP
from mr_opensearch.cli._errors import handle_errors
from mr_opensearch.cli._library_log import console_log, library_output_to, run_log_path
from mr_opensearch.cli._options import (
    DEFAULT_PORT,
    DEFAULT_RETRY_BUDGET,
    DEFAULT_TIMEOUT,
    CaCertsOpt,
    InsecureOpt,
    PasswordPromptOpt,
    PortOpt,
    RetryBudgetOpt,
    TimeoutOpt,
    UrlOpt,
    UserOpt,
)
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
    out: Path = typer.Option(..., "--out", "-o", help="Engagement log to write (.csv/.parquet/.jsonl); with "
                             "--format ubi a folder for ubi_events.ndjson and ubi_queries.ndjson."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog to validate product ids against."),
    split: EngagementSplit = typer.Option(EngagementSplit.all, "--split", help="Queries of one split only (seed 13), or all."),
    noise: float = typer.Option(0.0, "--noise", min=0.0, max=1.0, help="Fraction of labels to corrupt."),
    noisy_out: Path | None = typer.Option(None, "--noisy-out", help="Write the corrupted labels here."),
    sessions_mean: float = typer.Option(200.0, "--sessions-mean", help="Mean searches per query."),
    sessions_sigma: float = typer.Option(1.0, "--sessions-sigma", help="Log-normal traffic spread (0: fixed)."),
    eta: float = typer.Option(1.0, "--eta", help="Position bias: P(examine | rank r) = r^-eta."),
    ranker_strength: float = typer.Option(1.0, "--ranker-strength", help="How strongly the engine ranks by grade."),
    engine_ranks_by: RanksBy = typer.Option(RanksBy.truth, "--engine-ranks-by", help="The grades the simulated "
                                            "engine ranks by: the true ones, or the corrupted ones (needs --noise)."),
    fmt: EngagementFormat = typer.Option(EngagementFormat.counts, "--format", help="counts: one row per pair; ubi: "
                                         "UBI 1.3.0 events and queries (NDJSON) in the --out folder."),
    user_query_on_events: float = typer.Option(1.0, "--user-query-on-events", min=0.0, max=1.0, help="--format ubi: "
                                               "share of searches whose events carry user_query (SRW's COEC needs "
                                               "it; the spec puts it only on ubi_queries)."),
    index_url: str | None = typer.Option(None, "--index-url", help="--format ubi: also index the documents into "
                                         "this cluster's ubi_events / ubi_queries, created with the published UBI "
                                         "mappings when missing (password: $MROS_OPENSEARCH_PASSWORD)."),
    replace_indices: bool = typer.Option(False, "--replace-indices", help="--index-url: delete and recreate existing "
                                         "ubi_events / ubi_queries first."),
    seed: int = typer.Option(0, "--seed"),
    force: bool = FORCE,
) -> None:
    """Generate an engagement log from true grades with a position-based click model (counts, or UBI 1.3.0)."""
    from trainer.config import SplitConfig
    from trainer.data import load_catalog
    from trainer.labeler.engagement import ClickModelConfig, inject_label_noise, simulate_engagement
    from trainer.labeler.io import load_labels, write_frame
    from trainer.splits import split_of

    ubi = fmt is EngagementFormat.ubi
    if noise > 0 and noisy_out is None:
        raise MrosError("--noise needs --noisy-out", "pass --noisy-out FILE for the corrupted labels")
    if engine_ranks_by is RanksBy.noisy and noise == 0:
        raise MrosError("--engine-ranks-by noisy needs --noise", "pass --noise RATE and --noisy-out FILE")
    if not ubi and (index_url or user_query_on_events != 1.0):
        raise MrosError("--index-url and --user-query-on-events are options of --format ubi",
                        "add --format ubi, or drop them")
    inputs = [labels, catalog]
    if ubi:
        if out.exists() and not out.is_dir():
            raise MrosError(f"--out {out} is a file; --format ubi writes a folder", "pass a folder path")
        for name in ("ubi_events.ndjson", "ubi_queries.ndjson"):
            check_output_file(out / name, inputs=inputs, force=force)
    else:
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
    noisy = inject_label_noise(frame, noise, seed) if noisy_out is not None else None
    simulated = frame.assign(rank_grade=noisy["grade"]) if engine_ranks_by is RanksBy.noisy and noisy is not None else frame
    summary: dict = {"queries": int(frame["query"].nunique()), "click_model": click.model_dump(),
                     "engine_ranks_by": engine_ranks_by.value}
    if ubi:
        from trainer.labeler.ubi_simulation import index_ubi, simulate_ubi, write_ubi_ndjson

        events, queries = simulate_ubi(simulated, click, user_query_on_events)
        events_path, queries_path = write_ubi_ndjson(out, events, queries)
        counts = events["action_name"].value_counts()
        summary.update({"format": "ubi", "spec": "1.3.0", "events": str(events_path), "queries_file": str(queries_path),
                        "searches": len(queries), "event_count": len(events),
                        "pairs": int(events[["user_query", "object_id"]].drop_duplicates().shape[0]),
                        "impressions": int(counts.get("impression", 0)), "clicks": int(counts.get("click", 0)),
                        "add_to_carts": int(counts.get("add_to_cart", 0)), "orders": int(counts.get("purchase", 0)),
                        "user_query_on_events": user_query_on_events})
        if index_url:
            from mr_opensearch.cluster.connection import ClusterConfig, connect

            info(f"indexing {len(queries)} queries and {len(events)} events into {index_url}")
            summary["indexed"] = index_ubi(connect(ClusterConfig(url=index_url), on_retry=info), events, queries,
                                           replace=replace_indices)
    else:
        log = simulate_engagement(simulated, click)
        write_frame(log, out)
        summary.update({"pairs": len(log), "log": str(out),
                        "impressions": int(log["impressions"].sum()), "clicks": int(log["clicks"].sum()),
                        "add_to_carts": int(log["add_to_carts"].sum()), "orders": int(log["orders"].sum())})
    if noisy is not None:
        write_frame(noisy[["query", "product_uid", "true_grade"]].rename(columns={"true_grade": "grade"}),
                    truth_out)
        write_frame(noisy[["query", "product_uid", "grade"]], noisy_out)
        summary["truth"] = str(truth_out)
        summary.update({"noisy_labels": str(noisy_out), "noise_rate": noise, "noisy_pairs": int(noisy["noisy"].sum())})
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(*((out / "ubi_events.ndjson", out / "ubi_queries.ndjson") if ubi else (out,)),
                   *((noisy_out, truth_out) if noisy_out is not None else ()))
    else:
        what = (f"{summary['event_count']} UBI events of {summary['searches']} searches into {out}" if ubi
                else f"engagement over {summary['pairs']} pairs into {out}")
        result(f"Simulated {summary['impressions']} impressions, {summary['clicks']} clicks: {what}"
               + (f"; {summary['noisy_pairs']} corrupted labels in {noisy_out}" if noisy_out else "")
               + (f"; indexed into {index_url}" if index_url else ""))


@app.command("audit")
@handle_errors
def audit(
    labels: Path = typer.Option(..., "--labels", help="Labels to audit: query, product_uid, grade."),
    catalog: Path = typer.Option(..., "--catalog", help="Product catalog (product_uid, product_title)."),
    out: Path = typer.Option(..., "--out", "-o", help="Audited labels (.csv/.parquet/.jsonl): usable as "
                             "data.judgments of `mros train` as they are."),
    engagement: Path | None = typer.Option(None, "--engagement", "-e", help="Engagement log of per-pair counts "
                                           "(CSV/Parquet/JSONL)."),
    ubi: str | None = typer.Option(None, "--ubi", help="UBI 1.3.0 engagement instead: a cluster URL (its ubi_events "
                                   "and ubi_queries) or an NDJSON export (a folder with ubi_events.ndjson and "
                                   "ubi_queries.ndjson, or the events file)."),
    labeler: Path | None = typer.Option(None, "--labeler", "-l", help="Labeler directory: the judge of flagged "
                                        "pairs (without one, flagged pairs are dropped)."),
    report: Path | None = typer.Option(None, "--report", help="Audit report JSON (default: OUT.report.json)."),
    flagged_out: Path | None = typer.Option(None, "--flagged-out", help="The flagged pairs with their confidence "
                                            "(default: OUT.flagged.csv)."),
    judge: list[Path] = typer.Option([], "--judge", help="More labelers for the judge ensemble (repeatable)."),
    signal: Signal = typer.Option(Signal.clicks, "--signal", help="The engagement signal tested against the labels."),
    estimator: Estimator = typer.Option(Estimator.auto, "--estimator", help="auto: coec_srw for --ubi, impressions "
                                        "for --engagement. impressions: raw; coec_srw: SRW's COEC (expected clicks "
                                        "I*ctr[r*]); coec: per-impression expected clicks; pbm: a fitted "
                                        "position-based model's examination."),
    on_flag: OnFlag = typer.Option(OnFlag.auto, "--on-flag", help="auto: rejudge with --labeler, else drop."),
    alpha: float = typer.Option(0.01, "--alpha", help="Benjamini-Hochberg false discovery rate."),
    min_impressions: int = typer.Option(30, "--min-impressions", min=1, help="Test only pairs with this many "
                                        "impressions; fewer is 'not enough evidence' (counted, left as they are)."),
    max_rank: int = typer.Option(20, "--max-rank", min=1, help="--ubi: SRW's maxRank (ranks 0..max-rank-1 count "
                                 "for the rank click-through)."),
    ordinal_base: int = typer.Option(0, "--ordinal-base", min=0, max=1, help="--ubi: 1 when the collector wrote "
                                     "1-based ordinals (UBI/SRW expect 0-based)."),
    truth: Path | None = typer.Option(None, "--truth", help="Known true grades: report how much noise was recovered."),
    force: bool = FORCE,
    trust_pickle: bool = TRUST_PICKLE,
) -> None:
    """Flag labels that engagement contradicts, re-judge (or drop) them, write the audited labels."""
    from trainer.data import load_catalog
    from trainer.labeler.audit import AuditConfig, audit_labels, recovery_report
    from trainer.labeler.io import load_labels, write_frame

    if (engagement is None) == (ubi is None):
        raise MrosError("give exactly one engagement source: --engagement LOG (per-pair counts) or --ubi URL|FILE",
                        "pass --engagement FILE or --ubi URL|FILE", exit_code=2)
    chosen = estimator.value if estimator is not Estimator.auto else ("coec_srw" if ubi else "impressions")
    if engagement is not None and chosen != "impressions":
        raise MrosError(f"--estimator {chosen} needs positions, which a per-pair count log has not",
                        "use --ubi, or --estimator impressions", exit_code=2)
    action = on_flag.value if on_flag is not OnFlag.auto else ("rejudge" if labeler else "drop")
    if action == "rejudge" and labeler is None:
        raise MrosError("--on-flag rejudge needs a judge", "pass --labeler DIR, or --on-flag drop", exit_code=2)
    ubi_path = None if ubi is None or ubi.startswith(("http://", "https://")) else Path(ubi)
    inputs = [labels, engagement, catalog, truth, ubi_path]
    check_output_file(out, inputs=inputs, force=force)
    report = report or out.with_name(out.stem + ".report.json")
    flagged_out = flagged_out or out.with_name(out.stem + ".flagged.csv")
    for path, option in ((report, "--report"), (flagged_out, "--flagged-out")):
        if same_file(path, out):
            raise MrosError(f"{option} and --out are the same file ({out})", "write them to two files")
        check_output_file(path, inputs=inputs, force=force, option=option)
    config = AuditConfig(signal=signal.value, alpha=alpha, min_impressions=min_impressions, estimator=chosen,
                         on_flag=action)
    cat = load_catalog(catalog)
    frame = load_labels(labels, cat)
    ubi_summary = None
    if ubi is not None:
        from trainer.labeler.ubi import aggregate_pairs, load_ubi

        read = load_ubi(ubi, set(cat.ids), ordinal_base=ordinal_base)
        for line in read.report.lines():
            info(line)
        log = aggregate_pairs(read.events, max_rank=max_rank)
        ubi_summary = {**read.report.summary(), "max_rank": max_rank, "rank_ctr": log.attrs["rank_ctr"],
                       "pbm_examination": log.attrs["pbm_theta"]}
    else:
        from trainer.labeler.engagement import load_engagement

        assert engagement is not None
        log = load_engagement(engagement)
    judges = []
    if action == "rejudge":
        from trainer.labeler.model import Labeler

        judges = [Labeler.load(path, allow_pickle=trust_pickle) for path in (labeler, *judge)]
    corrected, rep = audit_labels(frame, log, judges, cat, config, show_progress(), log=info)
    if ubi_summary is not None:
        rep["ubi"] = ubi_summary
    rep["changes"] = _changes(corrected)
    if truth is not None:
        rep["recovery"] = recovery_report(corrected, load_labels(truth, cat))
    kept = corrected[~corrected["dropped"]]
    write_frame(kept, out)
    flagged = corrected[corrected["flagged"]]
    write_frame(flagged[[c for c in ("query", "product_uid", "original_grade", "grade", "direction", "confidence",
                                     "q_value", "impressions", signal.value, "rate", "dropped", "changed")
                         if c in flagged]], flagged_out)
    write_text(report, json.dumps(rep, indent=2, default=float) + "\n")
    if state.json:
        emit_json(rep)
    elif state.quiet:
        key_values(out, report)
    else:
        result(f"Audited {rep['pairs']} labels ({chosen}): {rep['tested']} tested, {rep['not_enough_evidence']} not "
               f"enough evidence, {rep['no_engagement']} without engagement; {rep['flagged']} flagged, "
               f"{rep['changed']} re-graded, {rep['dropped']} dropped; audited labels in {out}, flagged pairs in "
               f"{flagged_out}, report in {report}")
        if "recovery" in rep:
            r = rep["recovery"]
            result(f"label errors {r['error_rate_before']:.2%} -> {r['error_rate_after']:.2%} "
                   f"({r['errors_fixed']} fixed, {r['errors_introduced']} introduced); flags: precision "
                   f"{r['flag_precision']:.2f}, recall {r['flag_recall']:.2f}")


def _changes(frame) -> dict:
    """What the audit changed, for the report: counts per (original -> audited) grade, and drops."""
    names = ("irrelevant", "partial", "exact")
    moved = frame[frame["changed"] & ~frame["dropped"]]
    return {"regraded": {f"{names[a]} -> {names[b]}": int(n) for (a, b), n in
                         moved.groupby(["original_grade", "grade"]).size().items()},
            "dropped": {names[g]: int(n) for g, n in frame[frame["dropped"]].groupby("original_grade").size().items()},
            "kept_pairs": int((~frame["dropped"]).sum()), "input_pairs": len(frame)}


@app.command("export")
@handle_errors
def export(
    labels: Path = typer.Option(..., "--labels", help="Graded judgments (human, labeler or audited): query, "
                                "product_uid, grade or relevance."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for judgments.json (the SRW import body) and "
                             "query_set.json."),
    fmt: ExportFormat = typer.Option(ExportFormat.srw, "--format", help="srw: the Search Relevance Workbench's "
                                     "judgment list and query set."),
    name: str | None = typer.Option(None, "--name", help="Name of the judgment list and query set (at most 50 "
                                    "characters; default: the labels file's name)."),
    description: str = typer.Option("", "--description", help="Description (at most 250 characters with the "
                                    "grade scale mros appends)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Refuse product ids outside this catalog."),
    put: bool = typer.Option(False, "--put", help="Also upload both to the cluster's SRW (PUT judgments, PUT "
                             "query_sets); a cluster without the plugin is an error."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
    force: bool = FORCE,
) -> None:
    """Write graded judgments as an SRW judgment list (import body) and query set, the grade scale stated."""
    from mr_opensearch.search import srw
    from mr_opensearch.search.judgments import read_judgments

    assert fmt is ExportFormat.srw
    judgments_path, query_set_path = out / "judgments.json", out / "query_set.json"
    for path in (judgments_path, query_set_path):
        check_output_file(path, inputs=[labels, catalog], force=force)
    judged = read_judgments(labels)
    if catalog is not None:
        from mr_opensearch.core.catalog import read_catalog

        ids = set(read_catalog(catalog).ids)
        missing = sorted({pid for graded in judged.graded.values() for pid in graded if pid not in ids})
        if missing:
            raise MrosError(f"{len(missing)} product ids of {labels} are not in {catalog} (e.g. {missing[:3]}): SRW "
                            "compares docId with the hit _id, so they would never match",
                            "export judgments of this catalog")
    list_name = name or labels.stem[:50]
    judgment_body = srw.judgments_body(judged, list_name, description)
    query_body = srw.query_set_body(judged.queries, list_name, description)
    out.mkdir(parents=True, exist_ok=True)
    write_text(judgments_path, json.dumps(judgment_body, indent=1, ensure_ascii=False) + "\n")
    write_text(query_set_path, json.dumps(query_body, indent=1, ensure_ascii=False) + "\n")
    summary: dict = {"judgments": str(judgments_path), "query_set": str(query_set_path), "queries": len(judged.queries),
                     "pairs": len(judged), "scale": srw.GRADE_SCALE, "name": list_name}
    if len(judged.queries) > srw.MAX_QUERIES:
        info(f"note: {len(judged.queries)} queries; SRW takes at most {srw.MAX_QUERIES} per query set by default "
             "(plugins.search_relevance.query_set.maximum)")
    if put:
        from mr_opensearch.cli._cluster import ClusterArgs

        client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
        summary["put"] = {"query_set": srw.put(client, "query_sets", query_body),
                          "judgments": srw.put(client, "judgments", judgment_body)}
    if state.json:
        emit_json(summary)
    elif state.quiet:
        key_values(judgments_path, query_set_path)
    else:
        result(f"Wrote {summary['pairs']} ratings of {summary['queries']} queries as an SRW judgment list "
               f"({judgments_path}, ratings: {srw.GRADE_SCALE}) and query set ({query_set_path})"
               + ("; uploaded to the cluster's SRW" if put else ""))


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
