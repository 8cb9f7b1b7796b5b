"""``mros rollback``, ``mros status`` and ``mros prune``: an alias's indices, moving it back, and removing
what failed deploys left (:mod:`mr_opensearch.deploy.index_admin`)."""

from __future__ import annotations

import typer

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


def register(app: typer.Typer) -> None:
    app.command(name="rollback")(rollback)
    app.command(name="status")(status)
    app.command(name="prune")(prune)


@handle_errors
def rollback(
    alias: str = typer.Option(..., "--alias", help="The alias to move back."),
    to: str | None = typer.Option(None, "--to", help="A specific earlier index (default: the one that was live "
                                  "before the live one, as the live index's manifest records)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the alias change; send nothing."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Move the alias back to the index that was live before the live one (twice: two deploys back);
    nothing is deleted."""
    from mr_opensearch.deploy.index_admin import rollback as do_rollback

    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    outcome = do_rollback(client, alias, to=to, dry_run=dry_run, log=info)
    if state.json:
        emit_json(outcome)
    elif state.quiet:
        key_values(outcome["to"])
    else:
        verb = "would move" if dry_run else "moved"
        result(f"alias {alias} {verb} from {', '.join(outcome['from'])} to {outcome['to']}")


@handle_errors
def status(
    alias: str = typer.Option(..., "--alias", help="The alias to describe."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """The alias's indices made by mros: which is live, complete, how many documents, which model, and the
    incomplete ones failed deploys left (`mros prune` removes them)."""
    from mr_opensearch.deploy.index_admin import status as get_status

    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    report = get_status(client, alias)
    if state.json:
        emit_json(report)
        return
    if state.quiet:
        key_values(*report["live"])
        return
    result(f"alias {alias} on cluster {report['cluster']} (health {report['cluster_health']})")
    if not report["indices"]:
        result("  no mros indices for this alias")
    for row in report["indices"]:
        mark = "*" if row["live"] else " "
        state_text = "complete" if row["complete"] else "INCOMPLETE"
        result(f" {mark} {row['index']:<48} {state_text:<10} {row['documents']:>8}/{row['expected_documents']} docs  "
               f"{row['embedding']:<6} model {row['model_sha256'][:12]}  {row['health']:<6} "
               f"{row['completed_at'] or row['created_at']}")
        if row["updating"]:
            result(f"     an in-place update to catalog {row['updating']['catalog_sha256'][:12]} is under way (since "
                   f"{row['updating']['started_at']}); if no deploy runs, rerun it: it applies what is still different")
        for update in row["updates"][-5:]:
            result(f"     updated in place {update['at']}: embedded {update['embedded']}, fields updated "
                   f"{update['fields_updated']}, deleted {update['deleted']} ({update['seconds']:.1f} s)")
        if len(row["updates"]) > 5:
            result(f"     ... {len(row['updates']) - 5} earlier in-place updates (--json lists them all)")
    for name in report["foreign_live_indices"]:
        result(f"   {name}: live but not made by mros")
    if report["incomplete"]:
        result(f"  {len(report['incomplete'])} incomplete index(es) left by failed deploys: rerun the deploy to finish "
               f"one, or remove them with `mros prune --alias {alias}`")
    if report.get("lock"):
        from mr_opensearch.deploy.alias_lock import describe

        result(f"  locked: {describe(report['lock'])}")


@handle_errors
def prune(
    alias: str = typer.Option(..., "--alias", help="The alias whose incomplete indices to remove."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be deleted; send nothing."),
    url: UrlOpt = None,
    user: UserOpt = None,
    ca_certs: CaCertsOpt = None,
    insecure: InsecureOpt = False,
    port: PortOpt = DEFAULT_PORT,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    password_prompt: PasswordPromptOpt = False,
    retry_budget: RetryBudgetOpt = DEFAULT_RETRY_BUDGET,
) -> None:
    """Delete the incomplete indices failed or killed deploys left for the alias (no alias points at them;
    the alias lock is held, so none is being filled). Complete indices stay: `mros deploy --keep N` prunes those."""
    from mr_opensearch.deploy.index_admin import prune_incomplete

    client = ClusterArgs(url, user, ca_certs, insecure, port, timeout, password_prompt, retry_budget).connect()
    outcome = prune_incomplete(client, alias, dry_run=dry_run, log=info)
    if state.json:
        emit_json(outcome)
    elif state.quiet:
        key_values(*outcome["deleted"])
    elif not outcome["deleted"]:
        result(f"alias {alias}: no incomplete indices")
    else:
        verb = "would delete" if dry_run else "deleted"
        for name in outcome["deleted"]:
            result(f"{verb} {name}")
