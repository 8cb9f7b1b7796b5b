"""Steps of a run directory and their keys: a finished step is skipped when its inputs did not change.

A *step* is one unit of work in a run directory (``stage1``, ``stage2``, ``mining``, ``mnrl``,
``export``, ``labeler``, ``engine``); its marker ``RUN/.steps/<name>`` holds the key of its inputs
(:func:`step_key`: the previous step's key plus this step's config). ``mros train`` (:mod:`trainer.run`)
and ``mros run`` (:mod:`mr_opensearch.job.orchestration`) both use :class:`Steps`.
"""

from __future__ import annotations

from pathlib import Path

from mr_opensearch.core.hashing import text_key
from mr_opensearch.core.safe_write import write_text


def step_key(*parts: str) -> str:
    """The key of a step whose inputs are described by ``parts`` (texts, joined in order)."""
    return text_key("".join(parts))


class Steps:
    """Markers that make steps skippable: ``RUN/.steps/<name>`` holds the key of the inputs."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / ".steps"
        self.dir.mkdir(parents=True, exist_ok=True)

    def done(self, name: str, key: str) -> bool:
        marker = self.dir / name
        return marker.exists() and marker.read_text() == key

    def mark(self, name: str, key: str) -> None:
        write_text(self.dir / name, key)

    def key_of(self, name: str) -> str:
        """The key the step ``name`` was last marked with ("" when it never finished)."""
        marker = self.dir / name
        return marker.read_text() if marker.exists() else ""
