"""The audit's output is `data.judgments` of `mros train` as it is (issue #34): simulate UBI engagement with
planted noise, audit it, train a tiny model on the audited labels."""

from __future__ import annotations

import csv
import json

import pytest
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_mros_train_reads_the_audited_labels(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", n_products=90, n_queries=60)
    with open(data / "products.csv", encoding="utf-8") as fh:
        texts = [row[1] for row in csv.reader(fh)]
    base = build_tiny_sentence_transformer(tmp_path / "base", texts)
    catalog = data / "products.csv"
    result = runner.invoke(app, ["label", "simulate-engagement", "--labels", str(data / "judgments.csv"), "--catalog",
                                 str(catalog), "--format", "ubi", "--out", str(tmp_path / "ubi"), "--noise", "0.1",
                                 "--noisy-out", str(tmp_path / "noisy.csv"), "--sessions-mean", "150", "--seed", "3"])
    assert result.exit_code == 0, result.output
    audited = data / "audited.csv"
    result = runner.invoke(app, ["label", "audit", "--labels", str(tmp_path / "noisy.csv"), "--catalog", str(catalog),
                                 "--ubi", str(tmp_path / "ubi"), "--out", str(audited), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changes"]["kept_pairs"] == report["pairs"] - report["dropped"]  # what the audit changed
    config = tmp_path / "config.yaml"
    config.write_text("data: {judgments: audited.csv}\nstage1: {epochs: 1, queries_per_batch: 8, save_steps: 50}\n"
                      "stage2: {enabled: false}\neval: {baselines: [bm25]}\n")
    result = runner.invoke(app, ["--no-progress", "train", "--data", str(data), "--base", str(base), "--config",
                                 str(config), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["splits"]["test"]["stage1"]["queries"] > 0
    assert "audited.csv" in (tmp_path / "run" / "config.yaml").read_text()
