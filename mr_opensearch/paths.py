"""Where mros keeps its files.

- ``MROS_HOME`` (default ``~/.mros``): the user directory (node state, manifests, logs).
- ``MROS_CACHE_DIR`` (default ``~/.cache/mros``): large, re-creatable downloads such as the
  assembled OpenSearch home and Maven artifacts. Kept separate so tests can move ``MROS_HOME`` to a
  temporary directory without re-downloading OpenSearch.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_dir() -> Path:
    path = Path(os.environ.get("MROS_HOME") or Path.home() / ".mros").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    path = Path(os.environ.get("MROS_CACHE_DIR") or Path.home() / ".cache" / "mros").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def project_root() -> Path:
    """The source checkout (holds ``mappings/`` and ``pipelines/``)."""
    return Path(__file__).resolve().parent.parent
