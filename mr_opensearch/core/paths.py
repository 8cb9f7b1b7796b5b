"""Where mros keeps its files.

- ``MROS_HOME`` (default ``~/.mros``): the user directory (node state, manifests, logs).
- ``MROS_CACHE_DIR`` (default ``~/.cache/mros``): large, re-creatable downloads such as the
  assembled OpenSearch home and Maven artifacts. Kept separate so tests can move ``MROS_HOME`` to a
  temporary directory without re-downloading OpenSearch.
- ``MROS_DATA_DIR`` (default ``shared/data/homedepot`` beside the checkout): the folder with
  ``products.csv`` and ``judgments.csv`` that ``mros train``, ``mros label train`` and ``mros run`` read
  when neither ``--data`` nor the config's ``data.dir`` names one (:func:`data_dir`). The default is an
  absolute path, the same whatever the current directory.
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
    return Path(__file__).resolve().parents[2]


DATA_DIR_ENV = "MROS_DATA_DIR"


def default_data_dir() -> Path:
    """``$MROS_DATA_DIR``, else ``shared/data/homedepot`` beside the checkout (absolute)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return project_root().parent / "shared" / "data" / "homedepot"


def data_dir(*given: Path | str | None) -> Path:
    """The data folder: the first of ``given`` that is set (``--data``, then the config's ``data.dir``),
    else :func:`default_data_dir`. The one place the default is decided."""
    for folder in given:
        if folder is not None:
            return Path(folder)
    return default_data_dir()
