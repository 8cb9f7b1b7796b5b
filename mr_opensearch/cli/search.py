"""``mros search``: one query against the index behind an alias, in bm25, dense or hybrid mode."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from mr_opensearch.cli._choices import SearchMode
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
from mr_opensearch.cli._output import emit_json, info, key_values, result, state


class Grade(enum.StrEnum):
    partial = "partial"
    exact = "exact"


def register(app: typer.Typer) -> None:
    app.command(name="search")(search)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


@handle_errors
def search(
    query: str = typer.Argument(..., help="The query text."),
    alias: str = typer.Option(..., "--alias", help="The alias of a deployed index (`mros deploy`)."),
    mode: SearchMode = typer.Option(SearchMode.hybrid, "--mode", help="bm25, dense (k-NN / neural) or hybrid."),
    k: int = typer.Option(10, "--k", min=1, max=10000, help="Hits to return."),
    min_grade: Grade | None = typer.Option(None, "--min-grade", help="Radial dense leg: only hits whose engine score "
                                           "reaches this grade's learned boundary."),
    model: Path | None = typer.Option(None, "--model", help="Served model folder for query embedding (client mode; "
                                      "default: the one recorded at deploy)."),
    run: Path | None = typer.Option(None, "--run", help="Embed queries with RUN/onnx instead (client mode)."),
    show_requests: bool = typer.Option(False, "--show-requests", help="With --json: also the requests sent (a "
                                       "dense query carries its whole vector)."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Search a deployed index: hits with product id, title, score and a grade badge from the learned boundaries."""
    from mr_opensearch.search.queries import BADGE_PLACEHOLDER, QueryEmbedder, live_index
    from mr_opensearch.search.queries import search as do_search

    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    embedder = None
    if mode is not SearchMode.bm25:
        _, manifest = live_index(client, alias)
        if manifest.embedding == "client":
            embedder = QueryEmbedder(manifest, model=model, run=run)
        elif model is not None or run is not None:
            info("the index embeds queries inside the engine (neural): --model/--run are not used")
    outcome = do_search(client, alias, query, mode=mode.value, k=k,  # type: ignore[arg-type]
                        min_grade=min_grade.value if min_grade else None, embedder=embedder)  # type: ignore[arg-type]
    if state.json:
        emit_json(outcome.to_json(requests=show_requests))
        return
    if state.quiet:
        key_values(*((hit.product_id, f"{hit.score:.4f}", hit.grade or BADGE_PLACEHOLDER) for hit in outcome.hits))
        return
    radial = f", radial min_score {outcome.radial_min_score:.4f}" if outcome.radial_min_score is not None else ""
    embed = f", embedding {outcome.embed_ms:.1f} ms" if outcome.embed_ms is not None else ""
    result(f"{outcome.mode} search of {outcome.index} ({outcome.embedding} embedding{radial}): {len(outcome.hits)} hits, "
           f"took {outcome.took_ms:.0f} ms on the server, {outcome.wall_ms:.1f} ms round trip{embed}")
    if not outcome.hits:
        return
    hybrid = outcome.mode == "hybrid"
    title_width = min(60, max(5, *(len(h.title or "") for h in outcome.hits)))
    header = f"{'#':>3}  {'product_id':<16} {'title':<{title_width}} {'score':>8} {'grade':<10}"
    if hybrid:
        header += f" {'bm25':>9} {'dense':>7}"
    result(header)
    for hit in outcome.hits:
        title = (hit.title or "")[:title_width]
        line = f"{hit.rank:>3}  {hit.product_id:<16} {title:<{title_width}} {hit.score:>8.4f} {hit.grade or BADGE_PLACEHOLDER:<10}"
        if hybrid:
            line += f" {_score(hit.bm25_score):>9} {_score(hit.dense_score):>7}"
        result(line)
