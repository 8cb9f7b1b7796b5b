"""``mros rollback`` and ``mros status``: the indices mros made for an alias, and moving it back.

Rollback moves the alias, in one ``_aliases`` call, to the newest *complete* mros index of that
alias other than the live one; it never deletes anything, so a rollback can itself be undone by
deploying (or rolling back) again. It holds the alias lock (:mod:`mr_opensearch.deploy.alias_lock`) while it
moves the alias, so it never races a deploy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mr_opensearch.core.errors import MrosError
from mr_opensearch.deploy.alias_lock import LOCK_INDEX, AliasLock, read_lock
from mr_opensearch.deploy.deploy import move_alias, mros_indices
from mr_opensearch.deploy.preflight import alias_targets, check_index_name
from mr_opensearch.deploy.write_plan import WritePlan


def rollback(client: Any, alias: str, *, to: str | None = None, dry_run: bool = False,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    check_index_name(alias)
    live = alias_targets(client, alias)
    if not live:
        raise MrosError(f"alias {alias!r} does not exist", "deploy first: `mros deploy --run RUN --catalog FILE "
                        f"--alias {alias}`")
    indices = mros_indices(client, alias)
    owned = {name for name, _ in indices}
    foreign = [name for name in live if name not in owned]
    if foreign:
        raise MrosError(f"alias {alias!r} points at {', '.join(foreign)}, not made by mros for it",
                        "mros only moves aliases it owns")
    candidates = [name for name, m in indices if m.complete and name not in live]
    if to is not None:
        if to not in candidates:
            raise MrosError(f"{to} is not a complete mros index of {alias!r} other than the live one",
                            f"`mros status --alias {alias}` lists them")
        target = to
    elif not candidates:
        raise MrosError(f"alias {alias!r} has no earlier complete index to go back to",
                        f"`mros status --alias {alias}` lists its indices")
    else:
        target = candidates[-1]
    plan = WritePlan(dry_run)
    if dry_run:
        move_alias(client, plan, alias, target, live)
    else:
        with AliasLock(client, alias, command="rollback", log=log):
            if alias_targets(client, alias) != live:
                raise MrosError(f"alias {alias!r} moved while this rollback started", "rerun `mros rollback`")
            move_alias(client, plan, alias, target, live)
    return {"alias": alias, "from": live, "to": target, "dry_run": dry_run, "plan": plan.entries}


def status(client: Any, alias: str) -> dict[str, Any]:
    check_index_name(alias)
    live = set(alias_targets(client, alias))
    health = client.cluster.health()
    rows = []
    for name, manifest in mros_indices(client, alias):
        stats = client.cat.indices(index=name, format="json")[0]
        rows.append({"index": name, "live": name in live, "complete": manifest.complete,
                     "health": stats.get("health"), "documents": int(stats.get("docs.count") or 0),
                     "expected_documents": manifest.documents, "embedding": manifest.embedding,
                     "model_sha256": manifest.model_sha256, "model_id": manifest.model_id, "run": manifest.run,
                     "created_at": manifest.created_at, "completed_at": manifest.completed_at,
                     "manifest": manifest.to_meta()})
    foreign = sorted(live - {r["index"] for r in rows})
    lock = read_lock(client, alias) if client.indices.exists(index=LOCK_INDEX) else None
    return {"alias": alias, "cluster_health": health.get("status"), "cluster": health.get("cluster_name"),
            "live": sorted(live), "indices": rows, "foreign_live_indices": foreign, "lock": lock}
