"""The default data folder is decided in one place (mr_opensearch.core.paths.data_dir): ``--data``, else the
config's ``data.dir``, else ``$MROS_DATA_DIR``, else ``shared/data/homedepot`` beside the checkout — an
absolute path, not one relative to the current directory (it was ``../shared/data/homedepot``, written
three times)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mr_opensearch.core.paths import DATA_DIR_ENV, data_dir, default_data_dir, project_root
from trainer.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_the_order_and_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    default = default_data_dir()
    assert default == project_root().parent / "shared" / "data" / "homedepot" and default.is_absolute()
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == default  # the current directory plays no part
    assert data_dir(None, None) == default
    assert data_dir(tmp_path / "a", tmp_path / "b") == tmp_path / "a"
    assert data_dir(None, tmp_path / "b") == tmp_path / "b"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert data_dir(None, None) == tmp_path / "env"
    assert TrainConfig().data.catalog_path() == tmp_path / "env" / "products.csv"
    assert TrainConfig().data.judgments_path() == tmp_path / "env" / "judgments.csv"


def _mros(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_opensearch", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_train_and_label_read_the_folder_from_the_environment(tmp_path):
    """From any current directory, with no --data, both commands look in $MROS_DATA_DIR."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, DATA_DIR_ENV: str(tmp_path / "no-data-here"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for args in (["train", "--out", str(tmp_path / "run")], ["label", "train", "--out", str(tmp_path / "lab")]):
        done = _mros(*args, cwd=elsewhere, env=env)
        assert done.returncode == 1, done.stdout  # a MrosError (missing catalog), not a crash
        assert str(tmp_path / "no-data-here" / "products.csv") in done.stderr + done.stdout, done.stderr


def test_no_command_writes_its_own_default():
    for path in (ROOT / "mr_opensearch").rglob("*.py"):
        assert "shared/data/homedepot\")" not in path.read_text(encoding="utf-8"), path
