"""The serving side on a base install: it imports and runs its CLI with torch, pandas, scipy and the
training code made unimportable, and a built wheel carries the mapping and pipeline templates."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = """
import sys
BLOCKED = {"torch", "pandas", "scipy", "sentence_transformers", "transformers", "trainer", "sklearn"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: serving must not import it")
        return None
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_serving_modules_and_cli_work_without_torch_or_training_code():
    code = """
import importlib
for name in ["mr_opensearch.deploy.deploy", "mr_opensearch.search.queries", "mr_opensearch.search.live_eval", "mr_opensearch.search.fusion",
             "mr_opensearch.core.catalog", "mr_opensearch.search.judgments", "mr_opensearch.core.onnx_encoder", "mr_opensearch.deploy.preflight",
             "mr_opensearch.deploy.index_admin", "mr_opensearch.search.served_model", "mr_opensearch.search.manifest", "mr_opensearch.core.metrics",
             "mr_opensearch.deploy.ml_commons", "mr_opensearch.cluster.connection"]:
    importlib.import_module(name)
from typer.testing import CliRunner
from mr_opensearch.cli import app
for command in ("deploy", "search", "eval", "rollback", "status"):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, (command, result.output)
    assert "--json" in result.output, command
print("ok")
"""
    done = run_blocked(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_the_blocker_really_blocks():
    done = run_blocked("import torch")
    assert done.returncode == 1 and "serving must not import it" in done.stderr  # an uncaught ImportError


@pytest.mark.slow
def test_a_built_wheel_carries_the_templates_and_renders_from_an_installed_copy(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("mros-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("mappings", "pipelines"):
        for template in (ROOT / kind).glob("*.json"):
            assert f"mr_opensearch/_templates/{kind}/{template.name}" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = f"""
import sys
sys.path.insert(0, {str(site)!r})
import mr_opensearch.core.templates as t
assert t.template_path("pipelines", "hybrid-search").is_relative_to({str(site)!r})
body = t.render("pipelines", "hybrid-search", description="d", lower_bounds=[{{"mode": "ignore"}}], weights=[1.0])
print(__import__("json").dumps(body))
"""
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["description"] == "d"
