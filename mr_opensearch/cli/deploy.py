"""``mros deploy``: a trained run and a catalog into OpenSearch behind an alias (see :mod:`mr_opensearch.deploy.deploy`)."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from mr_opensearch.cli._choices import CopyMethod, SearchMode
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
from mr_opensearch.core.errors import MrosError, UsageError
from mr_opensearch.deploy.text_analyzers import DEFAULT as DEFAULT_TEXT_ANALYZER
from mr_opensearch.deploy.text_analyzers import check_text_analyzer


class Embedding(enum.StrEnum):
    auto = "auto"
    engine = "engine"
    client = "client"


def register(app: typer.Typer) -> None:
    app.command(name="deploy")(deploy)


def read_hybrid_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MrosError(f"hybrid settings file {path} not found", "write one with `mros eval --tune --save FILE`") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MrosError(f"{path}: not valid JSON ({exc})", "write it again with `mros eval --tune --save FILE`") from None
    settings = data.get("best", data) if isinstance(data, dict) else None
    if isinstance(settings, dict) and "settings" in settings:
        settings = settings["settings"]
    if not isinstance(settings, dict):
        raise MrosError(f"{path}: no hybrid settings object in it", "write it with `mros eval --tune --save FILE`")
    from pydantic import ValidationError

    from mr_opensearch.search.fusion import HybridSettings

    try:
        HybridSettings(**settings)
    except (ValidationError, TypeError, ValueError) as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()) \
            if isinstance(exc, ValidationError) else str(exc)
        raise UsageError(f"{{hybrid}} {path}: invalid hybrid settings: {problems}",
                         "write the file with `mros eval --alias ALIAS --judgments FILE --tune --save FILE`, or fix "
                         "the listed settings", parameters="hybrid") from None
    return settings


def _plan_line(entry: dict) -> str:
    text = f"  {entry['method']:<6} {entry['path']}"
    if entry.get("summary"):
        text += f"  ({entry['summary']})"
    return text


@handle_errors
def deploy(
    run: Path = typer.Option(..., "--run", help="Run directory of `mros train` / `mros run` (holds onnx/ and boundaries.json)."),
    catalog: Path = typer.Option(..., "--catalog", help="Catalog CSV/JSONL (product_uid/product_id, product_title/title, ...)."),
    alias: str = typer.Option(..., "--alias", help="Alias searches use; mros moves it to the new index once it is complete."),
    embedding: Embedding = typer.Option(Embedding.auto, "--embedding", help="engine: embed inside the cluster (ML "
                                        "Commons + neural-search); client: mros embeds with the ONNX model; auto: "
                                        "engine when both plugins are present."),
    text_field: list[str] = typer.Option([], "--text-field", help="Extra catalog column indexed for BM25 (repeatable)."),
    text_analyzer: str = typer.Option(DEFAULT_TEXT_ANALYZER, "--text-analyzer", help="OpenSearch built-in analyzer of the BM25 "
                                      "text fields: english (stemmed, the default), standard, or another language's."),
    hybrid: Path | None = typer.Option(None, "--hybrid", help="Hybrid settings from `mros eval --tune --save` "
                                       "(default: $MROS_HOME/tuning/ALIAS.json when it exists)."),
    keep: int | None = typer.Option(None, "--keep", min=1, help="Keep the N newest complete indices of the alias, delete older ones."),
    shards: int | None = typer.Option(None, "--shards", min=1, max=1024, help="Shards of the new index (default: "
                                      "one per 25 GB of estimated index size, so 1 for most catalogs: BM25 statistics "
                                      "and hybrid fusion stay index-wide)."),
    replicas: int | None = typer.Option(None, "--replicas", min=0, help="Replicas of the new index (default: 0 on one "
                                        "data node, else 1: any one node can be lost; up to data nodes - 1 for more "
                                        "search throughput)."),
    allow_yellow: bool = typer.Option(False, "--allow-yellow", help="Deploy on a yellow cluster of several data nodes "
                                      "(a node lost, or copies still recovering; refused otherwise). Yellow from "
                                      "replicas no node can hold (one node) is never refused."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, max=10000, help="Documents per bulk request."),
    encode_workers: int | None = typer.Option(None, "--encode-workers", min=1, max=64, help="Client mode: batches "
                                              "embedded at once, one onnxruntime thread each (default: one per CPU "
                                              "core, at most 8)."),
    allow_dimension_change: bool = typer.Option(False, "--allow-dimension-change", help="Deploy a model whose dimension differs from the live index."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every request the deploy would send; write nothing."),
    full: bool = typer.Option(False, "--full", help="Embed every product even when the live index serves the "
                              "same model (default: an incremental deploy, which gives the new products and those "
                              "whose embedding_text changed to the encoder and keeps the live vectors of the rest)."),
    in_place: bool = typer.Option(False, "--in-place", help="Apply the catalog's difference to the live index "
                                  "itself (upserts and deletes by id; no new index, so no rollback of this change). "
                                  "Refused when the live index's model or layout differs."),
    vectors: Path | None = typer.Option(None, "--vectors", help="Precomputed vectors (`mros embed`, or any job "
                                        "using mr_opensearch.Embedder): written instead of embedding for the "
                                        "products whose embedding_text they are of; the rest is embedded here. "
                                        "Client mode."),
    copy: CopyMethod = typer.Option(CopyMethod.clone, "--copy", help="Incremental deploy: how the unchanged "
                                    "products' vectors reach the new index: clone (the new index starts as a _clone "
                                    "of the live one, then takes the difference; falls back to read when the layout "
                                    "differs), read (mros reads them from the live "
                                    "index and writes them) or reindex (the cluster's _reindex; breaks the live "
                                    "index's vector reads on OpenSearch 3.5.0, see docs/live-catalog.md)."),
    gate: Path | None = typer.Option(None, "--gate", help="Release gate: judged queries (query, product, grade) on "
                                     "which the new index is measured against the live one before the alias "
                                     "moves; a worse one does not go live."),
    max_drop: float = typer.Option(0.01, "--max-drop", min=0.0, max=1.0, help="--gate: the largest nDCG@10 drop "
                                   "against the live index that still goes live."),
    gate_mode: SearchMode = typer.Option(SearchMode.hybrid, "--gate-mode", help="--gate: the search mode measured "
                                         "(the one the alias serves)."),
    allow_shrink: bool = typer.Option(False, "--allow-shrink", help="Deploy a catalog that leaves out more than "
                                      "--max-shrink of the live index's products (otherwise refused: a truncated "
                                      "export would empty the shop's search)."),
    max_shrink: float = typer.Option(0.10, "--max-shrink", min=0.0, max=1.0, help="The largest share of the live "
                                     "index's products a new catalog may leave out without --allow-shrink."),
    wait: float = typer.Option(0.0, "--wait", min=0, help="When another mros deploy or rollback of the alias holds its "
                               "lock, wait up to SECONDS for it instead of refusing at once."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Deploy a trained run: a new index per (model, catalog), filled, checked and marked complete; then the
    alias moves in one atomic call. The same deploy twice writes nothing; a killed deploy, rerun, resumes
    where it stopped. One deploy per alias at a time (a lock in the hidden index .mros-locks)."""
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.paths import user_dir
    from mr_opensearch.deploy.deploy import DeployOptions
    from mr_opensearch.deploy.deploy import deploy as run_deploy
    from mr_opensearch.deploy.preflight import check_index_name
    from mr_opensearch.search.served_model import load_run

    check_index_name(alias)  # a usage error, before any file is read
    if in_place and (full or gate is not None or keep is not None):
        raise UsageError("--in-place updates the live index itself: it takes no --full, --gate or --keep",
                         "leave those out, or deploy a new index without --in-place")
    check_text_analyzer(text_analyzer)
    model = load_run(run)
    products = read_catalog(catalog, text_fields=tuple(text_field))
    given = None
    if vectors is not None:
        from mr_opensearch.search.vectors_file import read_vectors

        given = read_vectors(vectors)
        info(f"vectors: {len(given.ids)} from {vectors} (model {given.stamp.model_sha256[:12]})")
    gate_options = None
    if gate is not None:
        from mr_opensearch.deploy.release_gate import GateOptions
        from mr_opensearch.search.judgments import read_judgments

        judged = read_judgments(gate)
        gate_options = GateOptions(queries=list(dict.fromkeys(judged.queries)), graded=judged.graded,
                                   source=str(gate), max_drop=max_drop, mode=gate_mode.value)
    hybrid_values = None
    tuned = hybrid or (user_dir() / "tuning" / f"{alias}.json")
    if hybrid is not None or tuned.exists():
        hybrid_values = read_hybrid_file(tuned)
        info(f"hybrid settings from {tuned}")
    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    options = DeployOptions(alias=alias, embedding=embedding.value, dry_run=dry_run, keep=keep, batch_size=batch_size,
                            shards=shards, replicas=replicas, allow_yellow=allow_yellow, text_fields=tuple(text_field), text_analyzer=text_analyzer,
                            hybrid=hybrid_values,
                            allow_dimension_change=allow_dimension_change, progress=show_progress(),
                            catalog_path=str(catalog), lock_wait=wait, encode_workers=encode_workers,
                            allow_shrink=allow_shrink, max_shrink=max_shrink, gate=gate_options, full=full,
                            copy=copy.value, vectors=given)
    if in_place:
        from mr_opensearch.deploy.in_place import update_in_place

        outcome = update_in_place(client, model, products, options, log=info)
    else:
        outcome = run_deploy(client, model, products, options, log=info)
    if state.json:
        emit_json(outcome.to_json())
        return
    if dry_run and state.quiet:
        key_values(*((entry["method"], entry["path"]) for entry in outcome.plan))
        return
    if dry_run:
        result(f"Dry run: {len(outcome.plan)} requests would be sent, nothing was written.")
        for entry in outcome.plan:
            result(_plan_line(entry))
        return
    if state.quiet:
        key_values(outcome.index)
        return
    result(f"{outcome.action}: {outcome.index} ({outcome.documents} documents, {outcome.embedding} embedding)")
    if outcome.written:
        result(f"  wrote {outcome.written} documents in {outcome.seconds:.1f} s ({outcome.docs_per_second:.0f} docs/s)")
    if outcome.in_place and outcome.action != "nothing to do":
        result(f"  in place: embedded {outcome.embedded}, fields updated {outcome.fields_updated}, deleted "
               f"{outcome.removed}, unchanged {outcome.unchanged}")
    if outcome.from_vectors_file:
        result(f"  {outcome.from_vectors_file} vectors from {vectors}, {outcome.embedded} embedded here")
    if outcome.incremental_from:
        result(f"  incremental from {outcome.incremental_from}: embedded {outcome.embedded}, copied {outcome.copied}, "
               f"removed {outcome.removed}")
    if outcome.phase_seconds:
        result("  phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.phase_seconds.items()))
    result(f"  alias {outcome.alias} -> {outcome.index}"
           + (f" (previous: {outcome.previous_index})" if outcome.previous_index and outcome.previous_index != outcome.index else ""))
    if outcome.model_id:
        result(f"  model id {outcome.model_id}")
    if outcome.gate is not None:
        from mr_opensearch.deploy.release_gate import describe

        result(f"  {describe(outcome.gate)}")
    for name in outcome.pruned:
        result(f"  pruned {name}")
