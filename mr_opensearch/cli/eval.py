"""``mros eval``: judged queries through the live index, bm25 / dense / hybrid side by side; ``--tune``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mr_opensearch.cli._choices import SearchMode, comma_separated, metavar
from mr_opensearch.cli._cluster import ClusterArgs
from mr_opensearch.cli._errors import handle_errors
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


def register(app: typer.Typer) -> None:
    app.command(name="eval")(eval_)


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
    for key in ("ndcg@10", f"recall@{k}_partial+", f"recall@{k}_exact"):
        rows.append((key, [_fmt(report["modes"][m]["quality"][key]) for m in modes]))
    for key in ("p50", "p95", "p99", "mean", "server_took_p50"):
        rows.append((f"latency {key} ms", [_fmt(report["modes"][m]["latency_ms"][key], 1) for m in modes]))
    for count in report["clients"]:
        label = f"{count} client{'s' if count > 1 else ''}"
        loads = [report["modes"][m]["load"][str(count)] for m in modes]
        rows.append((f"QPS, {label}", [_fmt(row["qps"], 1) for row in loads]))
        if count > 1:
            rows.append((f"p99 ms, {label}", [_fmt((row["latency_ms"] or {}).get("p99"), 1) for row in loads]))
        rows.append((f"errors, {label}", [f"{row['errors']} of {row['requests']}" for row in loads]))
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
    if saved is not None:
        result(f"saved to {saved} (the next `mros deploy --alias {outcome['alias']}` uses it)")


@handle_errors
def eval_(
    alias: str = typer.Option(..., "--alias", help="The alias of a deployed index (`mros deploy`)."),
    judgments: Path = typer.Option(..., "--judgments", help="Judged queries (query, product, grade), e.g. a split."),
    modes: str = typer.Option("bm25,dense,hybrid", "--modes", callback=comma_separated(SearchMode, "--modes"),
                              metavar=metavar(SearchMode), help="Comma-separated search modes to compare."),
    k: int = typer.Option(100, "--k", min=10, max=10000, help="Hits per query (recall@k)."),
    clients: str = typer.Option("1,4", "--clients", help="Parallel clients for the load measurement (QPS, "
                                "latency under load, errors), e.g. 1,4,16."),
    load_seconds: float | None = typer.Option(None, "--load-seconds", min=1.0, max=3600.0, help="Run each load "
                                              "for this long (default: one pass over the queries)."),
    max_queries: int | None = typer.Option(None, "--max-queries", min=1, help="Use only the first N judged queries."),
    tune: bool = typer.Option(False, "--tune", help="Also choose the hybrid settings on these judgments "
                              "(use a validation split) and save them for the next deploy."),
    save: Path | None = typer.Option(None, "--save", help="Where --tune writes the settings "
                                     "(default: $MROS_HOME/tuning/ALIAS.json)."),
    model: Path | None = typer.Option(None, "--model", help="Served model folder for query embedding (client mode)."),
    run: Path | None = typer.Option(None, "--run", help="Embed queries with RUN/onnx instead (client mode)."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Measure bm25, dense and hybrid search on judged queries through the live index: graded nDCG@10,
    recall, precision above the learned boundaries, latency and QPS, side by side."""
    from mr_opensearch.search.judgments import read_judgments
    from mr_opensearch.search.live_eval import default_tuning_path, evaluate_live, save_tuning
    from mr_opensearch.search.live_eval import tune as do_tune
    from mr_opensearch.search.queries import QueryEmbedder, live_index

    mode_list = [mode.value for mode in modes]  # type: ignore[attr-defined]  # the callback made a list
    client_counts = _ints(clients, "--clients")
    judged = read_judgments(judgments)
    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    _, manifest = live_index(client, alias)
    embedder = None
    if manifest.embedding == "client" and (tune or any(m != "bm25" for m in mode_list)):
        embedder = QueryEmbedder(manifest, model=model, run=run)
    elif manifest.embedding == "engine" and (model is not None or run is not None):
        info("the index embeds queries inside the engine (neural): --model/--run are not used")
    report = evaluate_live(client, alias, judged, modes=mode_list, k=k, clients=client_counts,
                           max_queries=max_queries, embedder=embedder, progress=show_progress(),
                           load_seconds=load_seconds)
    tuned, saved = None, None
    if tune:
        tuned = do_tune(client, alias, judged, k=k, max_queries=max_queries, embedder=embedder,
                        progress=show_progress())
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
