"""A tiny multilingual model trained end to end through `mros train` (Stage 1, evaluation, export)."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from mr_opensearch.cli import app
from trainer.testing import build_tiny_sentence_transformer, write_synthetic_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_and_base(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = write_synthetic_dataset(root / "data", n_products=90, n_queries=60)
    with open(data / "products.csv", encoding="utf-8") as products, open(data / "judgments.csv", encoding="utf-8") as judged:
        texts = [r[1] for r in csv.reader(products)] + [r[0] for r in csv.reader(judged)]
    # the tokenizer is trained here on mixed English / Spanish / Japanese text
    base = build_tiny_sentence_transformer(root / "base", texts)
    config = root / "config.yaml"
    config.write_text("stage1: {epochs: 2, queries_per_batch: 8, save_steps: 5}\nmnrl: {epochs: 1, batch_size: 8}\n")
    return data, base, config, root


def test_train_writes_the_run_directory_contract(data_and_base):
    data, base, config, root = data_and_base
    run = root / "run"
    result = CliRunner().invoke(app, ["--no-progress", "train", "--data", str(data), "--base", str(base),
                                      "--config", str(config), "--out", str(run), "--json"])
    assert result.exit_code == 0, result.output
    for rel in ("config.yaml", "metrics.json", "metrics.md", "README.md", "model/modules.json", "onnx/fp32/model.onnx",
                "onnx/fp32/tokenizer.json", "onnx/int8/model.onnx", "onnx/int8/tokenizer.json",
                "onnx/ml-commons.zip", "onnx/ml-commons.json", "plots/scores_test.png", "environment.json",
                "boundaries.json", "plots/boundaries_validation.png"):
        assert (run / rel).exists(), rel
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    assert set(test) == {"stage1", "stage1-int8-onnx", "base", "bm25", "mnrl"}
    for model_metrics in test.values():
        assert 0.0 <= model_metrics["ndcg@10"] <= 1.0
        assert 0.0 <= model_metrics["auc_exact_vs_irrelevant"] <= 1.0
    assert metrics["export"]["int8_mean_cosine"] >= 0.99
    assert metrics["training"]["steps"] > 0
    boundaries = json.loads((run / "boundaries.json").read_text())
    assert -1 <= boundaries["partial"] <= boundaries["exact"] <= 1
    assert 0 <= boundaries["accuracy"] <= 1 and boundaries["base_model_comparison"]["partial"] is not None
    env = json.loads((run / "environment.json").read_text())
    assert env["versions"]["torch"] and env["seeds"]["stage1"] == 42
    assert "## Metrics" in (run / "README.md").read_text()
    # a multilingual pair goes through the exported model's tokenizer without unknown tokens
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(run / "onnx" / "int8" / "tokenizer.json"))
    assert "[UNK]" not in tok.encode("taladro inalámbrico 電動ドリル").tokens

    # a rerun skips finished steps
    again = CliRunner().invoke(app, ["--no-progress", "train", "--data", str(data), "--base", str(base),
                                     "--config", str(config), "--out", str(run)])
    assert again.exit_code == 0, again.output
    assert "already trained, skipping" in again.output and "cached" in again.output


def test_evaluate_and_export_commands(data_and_base):
    root = data_and_base[3]
    run = root / "run"
    if not (run / "model").exists():
        pytest.skip("needs the run of the previous test")
    result = CliRunner().invoke(app, ["--no-progress", "evaluate", "--run", str(run), "--split", "validation", "--json"])
    assert result.exit_code == 0, result.output
    assert "validation" in json.loads(result.stdout[result.stdout.index("{"):])["splits"]
    out = root / "export"
    result = CliRunner().invoke(app, ["export", "--model", str(run / "model"), "--out", str(out), "--package", "fp32"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "ml-commons.json").read_text())["variant"] == "fp32"
