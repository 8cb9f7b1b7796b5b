"""``mros rollback``, ``mros status`` and ``mros prune``: the indices mros made for an alias, moving it
back, and removing what failed deploys left.

Rollback moves the alias, in one ``_aliases`` call, to the index that was live before the live one: each
deploy records in the new index's manifest the index it replaces (``previous_index``), so rolling back
twice goes two deploys back, never forward again. Indices deployed before that was recorded fall back to
the newest complete index other than the live one. A rollback never deletes anything. It holds the alias
lock (:mod:`mr_opensearch.deploy.alias_lock`) while it moves the alias, so it never races a deploy.

Prune deletes the *incomplete* indices of an alias (left by a deploy that failed or was killed and never
rerun): no alias points at them, and under the alias lock no deploy is writing to them.
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
    else:
        target = previous_live(dict(indices), live, candidates, alias)
    plan = WritePlan(dry_run)
    if dry_run:
        move_alias(client, plan, alias, target, live)
    else:
        with AliasLock(client, alias, command="rollback", log=log):
            if alias_targets(client, alias) != live:
                raise MrosError(f"alias {alias!r} moved while this rollback started", "rerun `mros rollback`")
            move_alias(client, plan, alias, target, live)
    return {"alias": alias, "from": live, "to": target, "dry_run": dry_run, "plan": plan.entries}


def previous_live(manifests: dict[str, Any], live: list[str], candidates: list[str], alias: str) -> str:
    """The index that was live before the live one, by the live manifest's ``previous_index``; for
    indices deployed before that was recorded, the newest complete index other than the live one."""
    if not candidates:
        raise MrosError(f"alias {alias!r} has no earlier complete index to go back to",
                        f"`mros status --alias {alias}` lists its indices")
    recorded = manifests[live[0]].previous_index if len(live) == 1 else None
    if recorded is None:
        return candidates[-1]
    if recorded not in candidates:
        raise MrosError(f"the index live before {live[0]}, {recorded}, is gone or incomplete",
                        f"`mros status --alias {alias}` lists the indices; pick one with --to INDEX")
    return recorded


def prune_incomplete(client: Any, alias: str, *, dry_run: bool = False,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Delete the incomplete mros indices of ``alias`` that no alias points at, under the alias lock (so
    none of them is a deploy's index being filled)."""
    check_index_name(alias)
    plan = WritePlan(dry_run)

    def doomed() -> list[str]:
        live = set(alias_targets(client, alias))
        return [name for name, m in mros_indices(client, alias) if not m.complete and name not in live]

    if dry_run:
        names = doomed()
        delete_indices(client, plan, names)
    else:
        with AliasLock(client, alias, command="prune", log=log):
            names = doomed()
            delete_indices(client, plan, names)
    return {"alias": alias, "deleted": names, "dry_run": dry_run, "plan": plan.entries}


def delete_indices(client: Any, plan: WritePlan, names: list[str]) -> None:
    for name in names:
        # ignore_unavailable: a resent DELETE whose first answer was lost finds nothing
        plan.write("DELETE", f"/{name}", None, lambda name=name: client.indices.delete(index=name, ignore_unavailable=True))


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
                     "model_sha256": manifest.model_sha256, "onnx_sha256": manifest.onnx_sha256,
                     "model_id": manifest.model_id, "run": manifest.run, "previous_index": manifest.previous_index,
                     "created_at": manifest.created_at, "completed_at": manifest.completed_at,
                     "updating": manifest.updating, "updates": manifest.updates, "manifest": manifest.to_meta()})
    foreign = sorted(live - {r["index"] for r in rows})
    lock = read_lock(client, alias) if client.indices.exists(index=LOCK_INDEX) else None
    return {"alias": alias, "cluster_health": health.get("status"), "cluster": health.get("cluster_name"),
            "live": sorted(live), "indices": rows, "foreign_live_indices": foreign, "lock": lock,
            "incomplete": [r["index"] for r in rows if not r["complete"] and not r["live"]]}
