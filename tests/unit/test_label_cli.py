"""`mros label` end to end on a tiny random model: train -> evaluate -> apply -> simulate -> audit."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset
from typer.testing import CliRunner

from mr_opensearch.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_label_commands_end_to_end(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", n_products=80, n_queries=40, per_query=5)
    with open(data / "products.csv", encoding="utf-8") as fh:
        texts = [row[1] for row in list(csv.reader(fh))[1:]]
    model = build_tiny_sentence_transformer(tmp_path / "tiny", texts)
    labeler = tmp_path / "labeler"
    catalog = data / "products.csv"

    result = runner.invoke(app, ["label", "train", "--data", str(data), "--out", str(labeler), "--backbone", str(model),
                                 "--epochs", "1", "--batch-size", "16", "--max-seq-length", "48",
                                 "--features-encoder", str(model), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((labeler / "metrics.json").read_text())
    assert {"accuracy", "within1_accuracy", "macro_f1", "confusion_matrix"} <= set(metrics)

    result = runner.invoke(app, ["label", "evaluate", "--labeler", str(labeler), "--labels", str(data / "judgments.csv"),
                                 "--catalog", str(catalog), "--out", str(tmp_path / "eval"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == len(pd.read_csv(data / "judgments.csv").drop_duplicates(["query", "product_uid"]))

    pairs = tmp_path / "pairs.jsonl"
    pd.read_csv(data / "judgments.csv", dtype=str)[["query", "product_uid"]].to_json(pairs, orient="records", lines=True)
    result = runner.invoke(app, ["label", "apply", "--labeler", str(labeler), "--pairs", str(pairs),
                                 "--catalog", str(catalog), "--out", str(tmp_path / "labels.jsonl"), "--tta", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    unique_pairs = len(pd.read_csv(data / "judgments.csv", dtype=str).drop_duplicates(["query", "product_uid"]))
    assert summary["labeled"] == summary["pairs"] == unique_pairs
    assert sum(summary["by_grade"].values()) == summary["labeled"]
    labeled = pd.read_json(tmp_path / "labels.jsonl", lines=True)
    assert len(labeled) == unique_pairs
    assert summary["by_grade"] == {name: int((labeled["grade"] == grade).sum())
                                   for grade, name in enumerate(("irrelevant", "partial", "exact"))
                                   if name in summary["by_grade"]}

    result = runner.invoke(app, ["label", "simulate-engagement", "--labels", str(data / "judgments.csv"),
                                 "--out", str(tmp_path / "log.parquet"), "--noise", "0.2",
                                 "--noisy-out", str(tmp_path / "noisy.csv"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["label", "audit", "--labeler", str(labeler), "--labels", str(tmp_path / "noisy.csv"),
                                 "--engagement", str(tmp_path / "log.parquet"), "--catalog", str(catalog),
                                 "--out", str(tmp_path / "fixed.csv"), "--truth", str(tmp_path / "noisy.truth.csv"),
                                 "--min-impressions", "10", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["flagged"] == sum(g["flagged"] for g in report["by_grade"].values())
    assert report["changed"] <= report["flagged"]
    # the corruptions simulate-engagement made: noisy grades that differ from the true ones
    noisy = pd.read_csv(tmp_path / "noisy.csv", dtype={"product_uid": str})
    truth = pd.read_csv(tmp_path / "noisy.truth.csv", dtype={"product_uid": str})
    joined = noisy.merge(truth, on=["query", "product_uid"], suffixes=("", "_true"))
    assert report["recovery"]["errors_before"] == int((joined["grade"] != joined["grade_true"]).sum()) > 0
    assert (tmp_path / "fixed.report.json").exists()
    fixed = pd.read_csv(tmp_path / "fixed.csv")
    assert {"grade", "original_grade", "flagged", "changed", "q_value", "wilson_low"} <= set(fixed.columns)

    # --quiet: the key values on stdout (docs/cli.md, Conventions), nothing on stderr
    quiet = runner.invoke(app, ["--quiet", "label", "evaluate", "--labeler", str(labeler), "--labels",
                                str(data / "judgments.csv"), "--catalog", str(catalog)])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    rows = [line.split("\t") for line in quiet.stdout.splitlines()]
    assert [name for name, _ in rows] == ["accuracy", "within1_accuracy", "macro_f1"]
    assert all(0 <= float(value) <= 1 for _, value in rows)
    quiet = runner.invoke(app, ["-q", "label", "apply", "--labeler", str(labeler), "--pairs", str(pairs),
                                "--catalog", str(catalog), "--out", str(tmp_path / "quiet-labels.csv")])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    assert quiet.stdout.splitlines() == [str(tmp_path / "quiet-labels.csv")]
    quiet = runner.invoke(app, ["-q", "label", "audit", "--labeler", str(labeler), "--labels", str(tmp_path / "noisy.csv"),
                                "--engagement", str(tmp_path / "log.parquet"), "--catalog", str(catalog),
                                "--out", str(tmp_path / "quiet-fixed.csv"), "--min-impressions", "10"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    assert quiet.stdout.splitlines() == [str(tmp_path / "quiet-fixed.csv"), str(tmp_path / "quiet-fixed.report.json")]
