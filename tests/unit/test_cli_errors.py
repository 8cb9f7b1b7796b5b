"""The CLI turns bad input into one clear message and exit code 1, without a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from mr_opensearch.cli import app

runner = CliRunner()


def test_missing_data_dir(tmp_path):
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "file not found" in result.output and "Traceback" not in result.output


def test_bad_config_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("stage1: {epoch: 3}\n")
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "stage1.epoch" in result.output and "Extra inputs" in result.output


def test_malformed_judgments_named_with_line(tmp_path):
    (tmp_path / "products.csv").write_text("product_uid,product_title\n1,drill\n")
    (tmp_path / "judgments.csv").write_text("query,product_uid,relevance\ndrill,1,3\ndrill,2,3\n")
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "judgments.csv:3" in result.output and "not in the catalog" in result.output


def test_export_needs_a_model(tmp_path):
    result = runner.invoke(app, ["export", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "pass --run RUN or --model DIR" in result.output
    result = runner.invoke(app, ["export", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_eval_run_needs_a_run(tmp_path):
    result = runner.invoke(app, ["eval", "--run", str(tmp_path)])
    assert result.exit_code == 1 and "not a run directory" in result.output


def test_debug_shows_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "eval", "--run", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("mros ")
