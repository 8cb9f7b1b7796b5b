"""`mros run` against a real cluster with bad data: the cluster check passes, the data error comes next,
before any training, with the run's own way of skipping bad rows in the hint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = pytest.mark.integration


def test_run_with_bad_data_stops_before_training_and_names_its_own_skip_option(tmp_path: Path, opensearch_url: str):
    data = tmp_path / "data"
    data.mkdir()
    (data / "products.csv").write_text("product_uid,product_title\n1,cordless drill\n2,white lamp\n")
    judgments = data / "judgments.csv"
    judgments.write_text("query,product_uid,relevance\ndrill,1,3\nlamp,2,5\n")
    before = hashlib.sha256(judgments.read_bytes()).hexdigest()
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["--no-progress", "run", "--url", opensearch_url, "--data", str(data),
                                      "--out", str(out), "--no-labeler"])
    assert result.exit_code == 1, result.output
    assert "judgments.csv:3: relevance '5' is outside the scale 1..3" in result.output
    assert "grade_mapping" in result.output and "--skip-bad-rows" not in result.output
    assert f"opensearch: {opensearch_url}" in result.output  # the cluster was checked first
    assert not (out / "model").exists() and not (out / "stage1-model").exists() and not (out / "config.yaml").exists()
    assert hashlib.sha256(judgments.read_bytes()).hexdigest() == before

    (data / "judgments.csv").write_text("query,product_uid,relevance\ndrill,1,3\nlamp,9,3\n")
    result = CliRunner().invoke(app, ["--no-progress", "run", "--url", opensearch_url, "--data", str(data),
                                      "--out", str(out), "--no-labeler"])
    assert result.exit_code == 1, result.output
    assert "judgments.csv:3: product '9' is not in the catalog" in result.output
    assert "on_error: skip" in result.output and "--skip-bad-rows" not in result.output
