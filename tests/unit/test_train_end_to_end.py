"""A tiny multilingual model trained end to end through `mros train` (Stage 1, evaluation, export)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = pytest.mark.slow


def _auc(high: list[float], low: list[float]) -> float:
    """P(a ``high`` score beats a ``low`` one), ties counting half, over all pairs."""
    wins = sum((h > lo) + 0.5 * (h == lo) for h in high for lo in low)
    return wins / (len(high) * len(low))


def _ndcg10_from_scratch(run) -> float:
    """Mean nDCG@10 over the test queries with a judged gain: the saved model's cosine ranking of the
    whole catalog, gain ``2^grade - 1``, discount ``log2(rank + 1)``."""
    from sentence_transformers import SentenceTransformer

    from trainer.config import load_config
    from trainer.run_data import load_data

    data = load_data(load_config(run / "config.yaml"))
    frame = data.splits["test"].frame
    model = SentenceTransformer(str(run / "model"))
    docs = model.encode([data.catalog.text(p) for p in data.catalog.ids], normalize_embeddings=True)
    values = []
    for query, rows in frame.groupby("query", sort=False):
        graded = dict(zip(rows["product_id"], rows["grade"].astype(int), strict=True))
        ideal = sorted(graded.values(), reverse=True)[:10]
        ideal_dcg = sum((2 ** g - 1) / np.log2(i + 2) for i, g in enumerate(ideal))
        if ideal_dcg == 0:
            continue
        scores = docs @ model.encode([query], normalize_embeddings=True)[0]
        top = np.argsort(-scores, kind="stable")[:10]
        dcg = sum((2 ** graded.get(data.catalog.ids[j], 0) - 1) / np.log2(i + 2) for i, j in enumerate(top))
        values.append(dcg / ideal_dcg)
    return float(np.mean(values))


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
    # every model's AUCs, from its judged-pair scores (RUN/eval/test/NAME.json) by the formula
    for name, model_metrics in test.items():
        scores = json.loads((run / "eval" / "test" / f"{name}.json").read_text())["scores_by_grade"]
        for key, high, low in (("auc_exact_vs_partial", "exact", "partial"), ("auc_partial_vs_irrelevant", "partial", "irrelevant"),
                               ("auc_exact_vs_irrelevant", "exact", "irrelevant")):
            assert model_metrics[key] == pytest.approx(_auc(scores[high], scores[low]), abs=1e-12), (name, key)
    # the per-query nDCG@10 stored for the paired bootstrap averages to the metric (queries without gain skipped)
    for name, model_metrics in test.items():
        by_query = json.loads((run / "eval" / "test" / f"{name}.json").read_text())["ndcg_by_query"]
        kept = [v for v in by_query.values() if v is not None]
        assert len(by_query) == model_metrics["queries"] and len(kept) == model_metrics["queries_with_gain"], name
        assert np.mean(kept) == pytest.approx(model_metrics["ndcg@10"], abs=1e-12), name
    # Stage 1's nDCG@10, recomputed here from the saved model over the whole catalog
    assert test["stage1"]["ndcg@10"] == pytest.approx(_ndcg10_from_scratch(run), abs=1e-6)
    assert metrics["export"]["int8_mean_cosine"] >= 0.99
    assert metrics["training"]["steps"] > 0
    boundaries = json.loads((run / "boundaries.json").read_text())
    assert -1 <= boundaries["partial"] <= boundaries["exact"] <= 1
    # the test accuracy of thresholding Stage 1's test scores at the learned boundaries, counted here
    stage1_scores = json.loads((run / "eval" / "test" / "stage1.json").read_text())["scores_by_grade"]
    hits = (sum(s < boundaries["partial"] for s in stage1_scores["irrelevant"])
            + sum(boundaries["partial"] <= s < boundaries["exact"] for s in stage1_scores["partial"])
            + sum(s >= boundaries["exact"] for s in stage1_scores["exact"]))
    assert boundaries["test_accuracy"] == pytest.approx(hits / sum(map(len, stage1_scores.values())))
    assert set(metrics["boundaries"]) == {"stage1", "base", "mnrl"}  # the MNRL baseline is thresholded too
    assert boundaries["base_model_comparison"] == metrics["boundaries"]["base"]
    assert boundaries["accuracy"] == metrics["boundaries"]["stage1"]["accuracy"]
    env = json.loads((run / "environment.json").read_text())
    assert env["versions"]["torch"] and env["seeds"]["stage1"] == 42
    card = (run / "README.md").read_text()
    assert "## Metrics" in card and "This card describes **Stage 1 only**" in card
    from huggingface_hub import ModelCard

    card_data = ModelCard(card).data
    assert card_data.base_model == str(base) and card_data.datasets == ["data"]
    assert {(r.metric_type, r.metric_value) for r in card_data.eval_results} >= {
        ("ndcg_at_10", test["stage1"]["ndcg@10"]), ("boundary_accuracy", boundaries["test_accuracy"])}
    assert f"| ndcg@10 | {test['stage1']['ndcg@10']:.4f} | {test['mnrl']['ndcg@10']:.4f} |" in card
    # a multilingual pair goes through the exported model's tokenizer without unknown tokens
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(run / "onnx" / "int8" / "tokenizer.json"))
    assert "[UNK]" not in tok.encode("taladro inalámbrico 電動ドリル").tokens

    # a rerun skips finished steps
    again = CliRunner().invoke(app, ["--no-progress", "train", "--data", str(data), "--base", str(base),
                                     "--config", str(config), "--out", str(run)])
    assert again.exit_code == 0, again.output
    assert "already trained, skipping" in again.output and "cached" in again.output
    assert "the MNRL recipe already trained, skipping" in again.output  # the run's mnrl step
    # --quiet (docs/cli.md, Conventions): the run directory on stdout, nothing on stderr
    quiet = CliRunner().invoke(app, ["-q", "train", "--data", str(data), "--base", str(base), "--config", str(config),
                                     "--out", str(run)])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    assert quiet.stdout.splitlines() == [str(run)]


def test_eval_run_and_export_commands(data_and_base):
    root = data_and_base[3]
    run = root / "run"
    if not (run / "model").exists():
        pytest.skip("needs the run of the previous test")
    result = CliRunner().invoke(app, ["--no-progress", "eval", "--run", str(run), "--split", "validation", "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)  # the whole of stdout is the JSON document
    assert "training the MNRL" not in result.output  # the evaluation loads the baseline, never trains it
    assert list(evaluated["splits"]) == ["validation"]
    assert set(evaluated["splits"]["validation"]) == {"stage1", "stage1-int8-onnx", "base", "bm25", "mnrl"}
    cached = json.loads((run / "eval" / "validation" / "stage1.json").read_text())["metrics"]
    assert evaluated["splits"]["validation"]["stage1"]["ndcg@10"] == cached["ndcg@10"]
    quiet = CliRunner().invoke(app, ["-q", "eval", "--run", str(run), "--split", "validation"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
    rows = [line.split("\t") for line in quiet.stdout.splitlines()]  # split, model, nDCG@10 to 4 places
    assert sorted(rows) == sorted(["validation", model, f"{m['ndcg@10']:.4f}"]
                                  for model, m in evaluated["splits"]["validation"].items())
    out = root / "export"
    result = CliRunner().invoke(app, ["export", "--model", str(run / "model"), "--out", str(out), "--package", "fp32"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "ml-commons.json").read_text())["variant"] == "fp32"


def test_the_paired_bootstrap_script_on_the_run(data_and_base, tmp_path):
    """benchmarks/auc_bootstrap.py over the run's evaluation caches and boundaries.json: the full-set
    values it reports are the run's own figures (nDCG@10, AUCs, boundary test accuracy)."""
    run = data_and_base[3] / "run"
    if not (run / "model").exists():
        pytest.skip("needs the run of the first test")
    out = tmp_path / "bootstrap.json"
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "auc_bootstrap.py"
    done = subprocess.run([sys.executable, str(script), "--run", str(run), "--a", "base", "--b", "stage1",
                           "--boundaries-a", str(run / "boundaries.json"), "--boundaries-b", str(run / "boundaries.json"),
                           "--replicates", "50", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    test = json.loads((run / "metrics.json").read_text())["splits"]["test"]
    boundaries = json.loads((run / "boundaries.json").read_text())["compared"]
    assert result["replicates"] == 50 and result["queries"] == test["stage1"]["queries"]
    figures = {**{key: (test["base"][key], test["stage1"][key]) for key in result["auc"]},
               "ndcg@10": (test["base"]["ndcg@10"], test["stage1"]["ndcg@10"]),
               "boundary_accuracy": (boundaries["base"]["test_accuracy"], boundaries["stage1"]["test_accuracy"])}
    sections = {**result["auc"], **result["ndcg"], **result["accuracy"]}
    assert set(sections) == set(figures) and len(result["auc"]) == 3
    for key, (a, b) in figures.items():
        assert sections[key]["a"] == pytest.approx(a, abs=1e-12) and sections[key]["b"] == pytest.approx(b, abs=1e-12), key
        low, high = sections[key]["ci95"]
        assert low <= high and 0 <= sections[key]["share_of_replicates_b_above_a"] <= 1, key
        assert f"{key}: base {a:.4f}  stage1 {b:.4f}" in done.stdout


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
