"""``mros eval``: what a model is worth, measured two ways.

- ``mros eval --run RUN``: offline, the graded evaluation of a trained run's model and its baselines on a
  split (full-corpus nDCG@10, recall@100, judged re-ranking nDCG@10, grade-separation AUCs, plots);
- ``mros eval --alias NAME --judgments FILE``: the live index, judged queries through bm25 / dense / hybrid
  side by side (quality, latency, QPS under load); ``--tune`` chooses the hybrid settings of the next deploy.

Exactly one of ``--run`` and ``--alias``; the options of one way are refused with the other. ``mros evaluate``,
the old name of ``mros eval --run``, still works for one release, with a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from mr_opensearch.cli._choices import SearchMode, Split, comma_separated, metavar
from mr_opensearch.cli._cluster import ClusterArgs
from mr_opensearch.cli._errors import handle_errors, option_of
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
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.core.safe_write import check_output_file, same_file

RUN_PANEL = "Trained run (--run)"
LIVE_PANEL = "Live index (--alias)"
# the options of each way, by parameter name (the cluster options belong to the live index)
RUN_ONLY = ("split",)
LIVE_ONLY = ("judgments", "query_set", "srw_cuts", "modes", "k", "clients", "load_seconds", "max_queries", "tune", "save", "force",
             "min_coverage", "allow_low_coverage", "html", "model", "url",
             "user", "ca_certs", "insecure", "port", "timeout", "password_prompt", "retry_budget")
RENAMED = "notice: `mros evaluate` is now `mros eval --run`; the old name goes in the next release"


def register(app: typer.Typer) -> None:
    app.command(name="eval")(eval_)


def register_old_name(app: typer.Typer) -> None:
    """``mros evaluate``, kept for one release."""
    app.command(name="evaluate")(evaluate)


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise MrosError(f"{what} {text!r}: expected comma-separated integers, e.g. 1,4", exit_code=2) from None


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _print_eval(report: dict[str, Any]) -> None:
    k = report["k"]
    modes = list(report["modes"])
    result(f"{report['queries']} judged queries through {report['alias']} -> {report['index']} "
           f"({report['embedding']} embedding), top {k}")
    rows: list[tuple[str, list[str]]] = []
    for key in ("ndcg@10", f"recall@{k}_partial+", f"recall@{k}_exact", "exact_precision@10", "irrelevant_rate@10",
                "no_exact@10"):
        rows.append((key, [_fmt(report["modes"][m]["quality"][key]) for m in modes]))
    for key in ("p50", "p95", "p99", "mean", "server_took_p50"):
        rows.append((f"latency {key} ms", [_fmt(report["modes"][m]["latency_ms"][key], 1) for m in modes]))
    for count in report["clients"]:
        label = f"{count} client{'s' if count > 1 else ''}"
        loads = [report["modes"][m]["load"][str(count)] for m in modes]
        rows.append((f"QPS, {label}", [_fmt(row["qps"], 1) for row in loads]))
        if count > 1:
            rows.append((f"p99 ms, {label}", [_fmt((row["latency_ms"] or {}).get("p99"), 1) for row in loads]))
        rows.append((f"errors, {label}", [f"{row['errors']} of {row['requests']}" + (
            f" in {row['error_window']['seconds']:.1f}s" if row.get("error_window") else "") for row in loads]))
    dense = report["modes"].get("dense", {}).get("boundaries")
    if dense:
        for grade, row in dense.items():
            values = [f"{_fmt(row['precision'])} of {row['judged_hits']}" if m == "dense" else "" for m in modes]
            rows.append((f"precision >= {grade} ({row['min_score']:.3f})", values))
    width = max(len(label) for label, _ in rows)
    result(f"{'':<{width}}  " + "  ".join(f"{m:>14}" for m in modes))
    for label, values in rows:
        result(f"{label:<{width}}  " + "  ".join(f"{v:>14}" for v in values))
    embedding = report.get("query_embedding")
    if embedding and embedding.get("where") == "client":
        result(f"query embedding (in mros, not in the latencies above): {embedding['ms_per_query']:.2f} ms/query, "
               f"{embedding['queries_per_second']:.0f} queries/s")
    elif embedding:
        result(f"query embedding: {embedding['note']}")


def _print_tune(outcome: dict[str, Any], saved: Path | None) -> None:
    k = outcome["k"]

    def line(name: str, row: dict[str, Any] | None) -> str:
        if row is None:
            return f"  {name:<16} (none)"
        s = row["settings"]
        return (f"  {name:<16} nDCG@10 {_fmt(row['ndcg@10'])}  recall@{k} partial+ {_fmt(row[f'recall@{k}_partial+'])}"
                f"  weights {s['weights'][0]:.1f}/{s['weights'][1]:.1f}  lower bound {s['lower_bound_mode']}"
                f"  min_score {_fmt(s['min_score'])}")

    result(f"hybrid tuning on {outcome['queries']} queries ({len(outcome['variants'])} variants, "
           f"pagination_depth {outcome['pagination_depth']})")
    result(line("current", outcome["current"]))
    result(line("plain min-max", outcome["comparison"]["plain_min_max"]))
    result(line("boundary-aware", outcome["comparison"]["boundary_aware"]))
    result(line("best", outcome["best"]))
    if saved is None:
        return
    from mr_opensearch.search.live_eval import default_tuning_path

    if same_file(saved, default_tuning_path(outcome["alias"])):
        result(f"saved to {saved} (the next `mros deploy --alias {outcome['alias']}` uses it)")
    else:
        result(f"saved to {saved}; a deploy uses it with `mros deploy --alias {outcome['alias']} --hybrid {saved} ...`")


@handle_errors
def eval_(
    ctx: typer.Context,
    run: Path | None = typer.Option(None, "--run", "-r", help="A trained run (the --out of `mros train` or `mros "
                                    "run`): evaluate its model and baselines offline, on --split."),
    alias: str | None = typer.Option(None, "--alias", help="The alias of a deployed index (`mros deploy`): "
                                     "measure the live index on --judgments."),
    split: list[Split] = typer.Option([Split.test], "--split", "-s", help="Split(s) to evaluate (repeatable).",
                                      rich_help_panel=RUN_PANEL),
    judgments: Path | None = typer.Option(None, "--judgments", help="Judged queries (query, product, grade), e.g. "
                                          "a split (required with --alias); or an SRW judgment list: the `PUT "
                                          "judgments` import body (.json), or srw:ID for one stored in the cluster.",
                                          rich_help_panel=LIVE_PANEL),
    query_set: Path | None = typer.Option(None, "--query-set", help="An SRW query set (the `PUT query_sets` body, "
                                          ".json, or srw:ID): measure only its queries, in its order.",
                                          rich_help_panel=LIVE_PANEL),
    srw_cuts: str | None = typer.Option(None, "--srw-cuts", help="Read continuous SRW ratings (e.g. COEC's) as "
                                        "grades: PARTIAL,EXACT cut points (default: ratings must be mros grades "
                                        "0/1/2).", rich_help_panel=LIVE_PANEL),
    modes: str = typer.Option("bm25,dense,hybrid", "--modes", callback=comma_separated(SearchMode, "--modes"),
                              metavar=metavar(SearchMode), help="Comma-separated search modes to compare.",
                              rich_help_panel=LIVE_PANEL),
    k: int = typer.Option(100, "--k", min=10, max=10000, help="Hits per query (recall@k).", rich_help_panel=LIVE_PANEL),
    clients: str = typer.Option("1,4", "--clients", help="Parallel clients for the load measurement (QPS, "
                                "latency under load, errors), e.g. 1,4,16.", rich_help_panel=LIVE_PANEL),
    load_seconds: float | None = typer.Option(None, "--load-seconds", min=1.0, max=3600.0, help="Run each load "
                                              "for this long (default: one pass over the queries).",
                                              rich_help_panel=LIVE_PANEL),
    max_queries: int | None = typer.Option(None, "--max-queries", min=1, help="Use only the first N judged queries.",
                                           rich_help_panel=LIVE_PANEL),
    tune: bool = typer.Option(False, "--tune", help="Also choose the hybrid settings on these judgments "
                              "(use a validation split) and save them for the next deploy.",
                              rich_help_panel=LIVE_PANEL),
    save: Path | None = typer.Option(None, "--save", help="Where --tune writes the settings "
                                     "(default: $MROS_HOME/tuning/ALIAS.json).", rich_help_panel=LIVE_PANEL),
    html: Path | None = typer.Option(None, "--html", help="Also write the report as an HTML page: the metrics "
                                     "side by side and each grade's score distribution per mode.",
                                     rich_help_panel=LIVE_PANEL),
    force: bool = typer.Option(False, "--force", help="Let --save and --html replace an existing file.",
                               rich_help_panel=LIVE_PANEL),
    min_coverage: float = typer.Option(0.5, "--min-coverage", min=0.0, max=1.0, help="Refuse when fewer than this "
                                       "share of the judged products are in the index (they would score 0 in every "
                                       "mode).", rich_help_panel=LIVE_PANEL),
    allow_low_coverage: bool = typer.Option(False, "--allow-low-coverage", help="Below --min-coverage, warn and "
                                            "measure anyway (judgments that match nothing are always refused).",
                                            rich_help_panel=LIVE_PANEL),
    model: Path | None = typer.Option(None, "--model", help="Served model folder for query embedding (client mode; "
                                      "a run's is RUN/onnx).", rich_help_panel=LIVE_PANEL),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Evaluate a trained run offline (--run RUN) or the live index behind an alias (--alias NAME).

    --run RUN: full-corpus nDCG@10, recall@100, judged re-ranking nDCG@10 and grade-separation AUCs of the run's
    model and baselines on --split, with plots. --alias NAME --judgments FILE: bm25, dense and hybrid search
    through the live index side by side: graded nDCG@10, recall, precision above the learned boundaries,
    latency and QPS."""
    _check_way(ctx, run, alias, judgments)
    if run is not None:
        _evaluate_run(run, split)
        return
    assert alias is not None and judgments is not None
    if save is not None:
        check_output_file(save, inputs=[judgments], force=force, option="--save")
    if html is not None:
        check_output_file(html, inputs=[judgments, save], force=force, option="--html")
    _evaluate_live(alias, judgments, modes, k, clients, load_seconds, max_queries, tune, save, html, model,
                   ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget),
                   Coverage(min_coverage, allow_low_coverage), SrwInput(query_set, srw_cuts))


def _given(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` given on the command line, as written there (``ParameterSource`` of typer's
    copy of click is not public: compared by name)."""
    return [option_of(ctx.command, name) for name in names
            if (source := ctx.get_parameter_source(name)) is not None and source.name == "COMMANDLINE"]


def _check_way(ctx: typer.Context, run: Path | None, alias: str | None, judgments: Path | None) -> None:
    """Exactly one of --run and --alias, and only the options of that one (usage errors, exit 2)."""
    if run is not None and alias is not None:
        raise UsageError("--run and --alias are alternatives: --run evaluates a trained run offline, --alias the "
                         "live index behind an alias",
                         "pass --run RUN alone, or --alias NAME with --judgments FILE (to embed the live queries "
                         "with a run's model: --model RUN/onnx)", parameters=("run", "alias"))
    if run is None and alias is None:
        raise UsageError("nothing to evaluate: neither --run nor --alias given",
                         "pass --run RUN to evaluate a trained run offline, or --alias NAME --judgments FILE to "
                         "measure the live index behind an alias", parameters=("run", "alias"))
    if run is not None and (extra := _given(ctx, LIVE_ONLY)):
        raise UsageError(f"{', '.join(extra)} {'is an option' if len(extra) == 1 else 'are options'} of the live "
                         "evaluation (--alias), not of --run",
                         f"drop {', '.join(extra)}, or measure the live index with --alias NAME --judgments FILE",
                         parameters=("run",))
    if alias is not None and (extra := _given(ctx, RUN_ONLY)):
        raise UsageError(f"{', '.join(extra)} {'is an option' if len(extra) == 1 else 'are options'} of the offline "
                         "evaluation (--run), not of --alias",
                         f"drop {', '.join(extra)}: the live index is measured on --judgments FILE (e.g. a split)",
                         parameters=("alias",))
    if alias is not None and judgments is None:
        raise UsageError("--alias needs --judgments: the judged queries to measure the live index on",
                         "pass --judgments FILE (query, product_uid, relevance), e.g. a validation or test split",
                         parameters=("judgments",))


def _evaluate_run(run: Path, split: list[Split]) -> None:
    """Offline: the graded evaluation of a run's model and baselines on ``split``."""
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


@dataclass(frozen=True)
class SrwInput:
    """``--query-set`` and ``--srw-cuts``: how SRW lists are read."""

    query_set: Path | None = None
    cuts: str | None = None


def parse_cuts(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        partial, exact = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--srw-cuts {text!r}: expected PARTIAL,EXACT, two numbers, e.g. 0.5,1.5",
                         parameters="srw_cuts") from None
    if not 0 <= partial <= exact:
        raise UsageError(f"--srw-cuts {text!r}: need 0 <= PARTIAL <= EXACT", parameters="srw_cuts")
    return partial, exact


def load_live_judgments(judgments: Path, srw: SrwInput, client: Any) -> tuple[Any, dict[str, Any] | None]:
    """The judgments of a live evaluation: a judgments table, or an SRW judgment list (file or ``srw:ID``),
    restricted to an SRW query set when one is given; with what reading them skipped (counted)."""
    from mr_opensearch.search import srw as srw_format
    from mr_opensearch.search.judgments import read_judgments

    cuts = parse_cuts(srw.cuts)
    text = str(judgments)
    read = None
    if text.startswith(srw_format.REFERENCE):
        body = srw_format.fetch(client, "judgments", text[len(srw_format.REFERENCE):])
        judged, read = srw_format.parse_judgments(body, text, cuts)
    elif srw_format.is_srw_judgments(judgments):
        judged, read = srw_format.parse_judgments(srw_format.read_json(judgments), text, cuts)
    else:
        if cuts is not None:
            raise UsageError("--srw-cuts reads SRW judgment lists; --judgments is a table", parameters="srw_cuts")
        judged = read_judgments(judgments)
    if srw.query_set is not None:
        qs = str(srw.query_set)
        body = (srw_format.fetch(client, "query_sets", qs[len(srw_format.REFERENCE):]) if qs.startswith(srw_format.REFERENCE)
                else srw_format.read_json(srw.query_set))
        queries, _ = srw_format.parse_query_set(body, qs)
        read = read or srw_format.SrwRead(text)
        judged = srw_format.restrict(judged, queries, read)
    if read is None:
        return judged, None
    for reason, n in read.skipped.items():
        info(f"{read.source}: skipped {n} {reason} (e.g. {', '.join(read.examples[reason][:2])})")
    return judged, read.summary()


@dataclass(frozen=True)
class Coverage:
    """How much of the judgments must be in the index (``--min-coverage``), and whether less only warns."""

    minimum: float
    warn_only: bool


def _evaluate_live(alias: str, judgments: Path, modes: Any, k: int, clients: str, load_seconds: float | None,
                   max_queries: int | None, tune: bool, save: Path | None, html: Path | None, model: Path | None,
                   cluster: ClusterArgs, coverage: Coverage, srw: SrwInput | None = None) -> None:
    """The live index: judged queries through bm25 / dense / hybrid, and --tune."""
    from mr_opensearch.search.live_eval import default_tuning_path, evaluate_live, save_tuning
    from mr_opensearch.search.live_eval import tune as do_tune
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    mode_list = [mode.value for mode in modes]  # type: ignore[attr-defined]  # the callback made a list
    client_counts = _ints(clients, "--clients")
    client = cluster.connect()
    judged, srw_read = load_live_judgments(judgments, srw or SrwInput(), client)
    _, manifest = live_index(client, alias)
    embedder = None
    if manifest.embedding == "client" and (tune or any(m != "bm25" for m in mode_list)):
        embedder = QueryEmbedder(manifest, model=model)
    elif manifest.embedding == "engine" and model is not None:
        info("the index embeds queries inside the engine (neural): --model is not used")
    warn = info if coverage.warn_only else None
    report = evaluate_live(client, alias, judged, modes=mode_list, k=k, clients=client_counts,
                           max_queries=max_queries, embedder=embedder, progress=show_progress(),
                           load_seconds=load_seconds, min_coverage=coverage.minimum, warn=warn)
    if srw_read is not None:
        report["judgments_read"] = srw_read
    if html is not None:
        from mr_opensearch.core.safe_write import write_text
        from mr_opensearch.search.eval_page import eval_page

        write_text(html, eval_page(report))
        info(f"report page: {html}")
    tuned, saved = None, None
    if tune:
        tuned = do_tune(client, alias, judged, k=k, max_queries=max_queries, embedder=embedder,
                        progress=show_progress(), min_coverage=coverage.minimum, warn=warn)
        saved = save_tuning(tuned, save or default_tuning_path(alias))
    if state.json:
        emit_json({"eval": report, **({"tune": {**tuned, "saved": str(saved)}} if tuned else {})})
        return
    if state.quiet:
        key_values(*((mode, _fmt(block["quality"]["ndcg@10"])) for mode, block in report["modes"].items()))
        if saved is not None:
            key_values(saved)
        return
    _print_eval(report)
    if tuned is not None:
        _print_tune(tuned, saved)


@handle_errors
def evaluate(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory written by `mros train`."),
    split: list[Split] = typer.Option([Split.test], "--split", "-s", help="Split(s) to evaluate (repeatable)."),
) -> None:
    """Deprecated: the old name of `mros eval --run RUN`, removed in the next release.

    Full-corpus nDCG@10, recall@100, judged re-ranking nDCG@10 and grade-separation AUCs, with plots."""
    info(RENAMED)
    _evaluate_run(run, split)
