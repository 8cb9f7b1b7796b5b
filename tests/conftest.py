"""Shared pytest fixtures.

- Every test gets its own ``MROS_HOME`` (the user directory) in a temp dir, so nothing a test does
  touches the real one. ``MROS_CACHE_DIR`` (big downloads: the OpenSearch home) is left alone.
- Tests marked ``integration`` get a real OpenSearch node from ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MROS_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MROS_HOME", str(tmp_path_factory.mktemp("mros-home")))
