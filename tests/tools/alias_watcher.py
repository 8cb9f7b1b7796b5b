"""A thread that polls ``GET /<alias>/_mapping`` (the manifests of the indices behind an alias) and records
every moment the alias pointed at an index not marked complete: the crash test and the chaos benchmark
check with it that no reader could ever have been served a half-built index."""

from __future__ import annotations

import threading
import time
from typing import Any


class AliasWatcher:
    """Use as a context manager (or :meth:`start` / :meth:`stop`); then read ``violations``: the polls that
    failed and each time the alias was on an incomplete index (empty when the alias was always safe)."""

    def __init__(self, url: str, alias: str, every: float = 0.01) -> None:
        from opensearchpy import OpenSearch

        self.client: Any = OpenSearch(hosts=url.split(","), timeout=30)  # one URL, or every node's
        self.alias, self.every = alias, every
        self.polls = 0
        self.seen: set[str] = set()
        self.incomplete: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def violations(self) -> list[str]:
        return self.failed + self.incomplete

    def _run(self) -> None:
        from opensearchpy.exceptions import NotFoundError

        while not self._stop.is_set():
            try:
                found = self.client.indices.get_mapping(index=self.alias)
            except NotFoundError:
                found = {}
            except Exception as exc:  # recorded: a watcher that cannot see proves nothing
                self.failed.append(f"poll failed: {exc!r}")
                found = {}
            for index, body in found.items():
                self.seen.add(index)
                meta = body["mappings"].get("_meta") or {}
                if meta.get("complete") is not True:
                    self.incomplete.append(f"alias on {index} with complete={meta.get('complete')!r}")
            self.polls += 1
            time.sleep(self.every)

    def start(self) -> AliasWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> AliasWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
