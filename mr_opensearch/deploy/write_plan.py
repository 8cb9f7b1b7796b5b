"""The writes of a deploy, a rollback and ML Commons' model registration, recorded as they are sent.

Every write goes through :meth:`WritePlan.write`: it is recorded as ``{"method", "path", "body"?,
"summary"?}`` and then sent, or, under ``--dry-run``, only recorded. What stands for many requests
(the chunk uploads of a model, the bulk load) or for no request at all (the served model copied to
``$MROS_HOME``) is recorded with :meth:`WritePlan.note`. The entries are what ``--dry-run`` prints, and
the ``plan`` of a deploy's or rollback's JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mr_opensearch.search.manifest import Manifest

T = TypeVar("T")


@dataclass
class WritePlan:
    """The writes recorded so far; with ``dry_run`` they are only recorded, never sent."""

    dry_run: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)

    def note(self, method: str, path: str, body: Any = None, summary: str | None = None) -> None:
        """Record a write without sending anything."""
        entry: dict[str, Any] = {"method": method, "path": path}
        if body is not None:
            entry["body"] = body
        if summary:
            entry["summary"] = summary
        self.entries.append(entry)

    def write(self, method: str, path: str, body: Any, send: Callable[[], T], summary: str | None = None) -> T | None:
        """Record a write, then ``send()`` it unless this is a dry run; ``send()``'s answer, None in a dry run."""
        self.note(method, path, body, summary)
        return None if self.dry_run else send()


def write_manifest(client: Any, plan: WritePlan, index: str, manifest: Manifest,
                   check_lock: Callable[[], None]) -> None:
    """``PUT /<index>/_mapping`` with ``manifest`` as the index's ``_meta``, through ``plan``; ``check_lock()``
    first (it raises when this process no longer holds the alias lock)."""
    body = {"_meta": manifest.to_meta()}
    check_lock()
    plan.write("PUT", f"/{index}/_mapping", body, lambda: client.indices.put_mapping(index=index, body=body))
