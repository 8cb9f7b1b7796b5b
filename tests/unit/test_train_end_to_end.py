"""A tiny multilingual model trained end to end through `mros train` (Stage 1, evaluation, export)."""

from __future__ import annotations

import csv
import json

import numpy as np
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
    # Stage 1 alone here (Stage 2 is covered below); the MNRL baseline is opt-in
    config.write_text("stage1: {epochs: 2, queries_per_batch: 8, save_steps: 5}\nmnrl: {epochs: 1, batch_size: 8}\n"
                      "stage2: {enabled: false}\neval: {baselines: [bm25, base, mnrl]}\n")
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
    # --quiet (docs/cli.md, Conventions): the run directory on stdout, nothing on stderr
    quiet = CliRunner().invoke(app, ["-q", "train", "--data", str(data), "--base", str(base), "--config", str(config),
                                     "--out", str(run)])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    assert quiet.stdout.splitlines() == [str(run)]


def test_evaluate_and_export_commands(data_and_base):
    root = data_and_base[3]
    run = root / "run"
    if not (run / "model").exists():
        pytest.skip("needs the run of the previous test")
    result = CliRunner().invoke(app, ["--no-progress", "evaluate", "--run", str(run), "--split", "validation", "--json"])
    assert result.exit_code == 0, result.output
    assert "validation" in json.loads(result.stdout[result.stdout.index("{"):])["splits"]
    quiet = CliRunner().invoke(app, ["-q", "evaluate", "--run", str(run), "--split", "validation"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    rows = [line.split("\t") for line in quiet.stdout.splitlines()]
    assert rows and {split for split, _, _ in rows} == {"validation"} and "stage1" in {model for _, model, _ in rows}
    assert all(0 <= float(ndcg) <= 1 for _, _, ndcg in rows)
    out = root / "export"
    result = CliRunner().invoke(app, ["export", "--model", str(run / "model"), "--out", str(out), "--package", "fp32"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "ml-commons.json").read_text())["variant"] == "fp32"


def test_stage2_pipeline_with_a_labeler(tmp_path):
    """Stage 1 then Stage 2 from one config: mining graded by a labeler, circle loss, final model exported."""
    from trainer.config import TrainConfig
    from trainer.run import train_run

    data = write_synthetic_dataset(tmp_path / "data", n_products=60, n_queries=60, seed=3)
    with open(data / "products.csv", encoding="utf-8") as products, open(data / "judgments.csv", encoding="utf-8") as judged:
        texts = [r[1] for r in csv.reader(products)] + [r[0] for r in csv.reader(judged)]
    base = build_tiny_sentence_transformer(tmp_path / "base", texts)
    config = TrainConfig.model_validate({
        "data": {"dir": str(data)},
        "model": {"base": str(base)},
        "stage1": {"epochs": 1, "queries_per_batch": 8},
        "stage2": {"enabled": True, "epochs": 1, "queries_per_batch": 8, "mining": {"k": 10, "max_unjudged": 2},
                   "spelling": {"enabled": True, "fraction": 0.5}},
        "eval": {"baselines": ["base"]},
        "export": {"quantize": False, "package": "fp32"},
    })
    calls = []

    def overlap_labeler(queries, product_texts):
        calls.append(len(queries))
        grades = np.array([min(2, len(set(q.split()) & set(t.split()))) for q, t in zip(queries, product_texts, strict=True)])
        return grades, np.eye(3)[grades]

    import trainer.stage2_step as stage2_step

    original = stage2_step.labeler_function
    stage2_step.labeler_function = lambda path, **kw: overlap_labeler
    try:
        config.stage2.labeler = tmp_path  # any existing directory; the function above stands in for the model
        metrics = train_run(config, tmp_path / "run", progress=False, log=lambda m: None)
    finally:
        stage2_step.labeler_function = original
    run = tmp_path / "run"
    assert (run / "stage1-model").exists() and (run / "model").exists() and (run / "mined.parquet").exists()
    info = json.loads((run / "stage2.json").read_text())
    assert info["mining"]["labelled"] == sum(calls) > 0
    assert info["train_pairs"] > metrics["stage2"]["mining"]["labelled"]  # originals + mined + spelling copies
    assert set(metrics["splits"]["test"]) >= {"stage1", "stage2", "base"}
    assert json.loads((run / "onnx" / "ml-commons.json").read_text())["variant"] == "fp32"
    assert set(metrics["boundaries"]) == {"stage2", "stage1", "base"}
