"""The evaluation step's cache (``RUN/eval/<split>/<model>.json``): a model is scored again exactly when
what it depends on changed. The bug this guards against: the exported int8 ONNX model was keyed by
its training step's marker only, so a re-export (other opset, fusion or quantization, same trained
model) reused the previous export's figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from trainer.config import TrainConfig
from trainer.data import Catalog, Judgments
from trainer.evaluation import DenseScorer, run_step
from trainer.run_data import LoadedData
from trainer.steps import Steps

CATALOG = Catalog(["a", "b", "c", "d"], ["red drill", "blue drill", "garden hose", "red hose"])
VOCAB = ["red", "blue", "drill", "garden", "hose"]


def bag_of_words(texts: list[str]) -> np.ndarray:
    return np.array([[float(word in text.split()) + 0.01 for word in VOCAB] for text in texts], dtype=np.float32)


def run_with_an_export(tmp_path, monkeypatch):
    frame = pd.DataFrame([("red drill", "a", 2), ("red drill", "b", 1), ("red drill", "c", 0),
                          ("garden hose", "c", 2), ("garden hose", "d", 1), ("garden hose", "a", 0)],
                         columns=["query", "product_id", "grade"])
    judgments = Judgments(frame)
    data = LoadedData(CATALOG, judgments, {"train": judgments, "validation": judgments, "test": judgments})
    config = TrainConfig.model_validate({"stage2": {"enabled": False}, "eval": {"splits": ["test"], "baselines": []}})
    run_dir = tmp_path / "run"
    steps = Steps(run_dir)
    steps.mark("stage1", "stage1-key")
    exported = run_dir / "onnx" / "int8" / "model.onnx"
    exported.parent.mkdir(parents=True)
    scored: list[str] = []

    def factories(*args, **kwargs):
        def onnx_scorer():
            scored.append(exported.read_text())
            return DenseScorer(bag_of_words, CATALOG, "stage1-int8-onnx")
        return {"stage1-int8-onnx": onnx_scorer}

    monkeypatch.setattr(run_step, "_scorer_factories", factories)

    def evaluate() -> None:
        run_step.evaluate_run(run_dir, config, data, progress=False, log=lambda line: None, steps=steps, data_key="d")

    return exported, steps, scored, evaluate


def test_a_re_export_is_evaluated_again(tmp_path, monkeypatch):
    exported, _, scored, evaluate = run_with_an_export(tmp_path, monkeypatch)
    exported.write_text("export 1")
    evaluate()
    evaluate()
    assert scored == ["export 1"]  # the second evaluation is read from the cache
    exported.write_text("export 2, another opset")  # same trained model (stage1 marker unchanged)
    evaluate()
    assert scored == ["export 1", "export 2, another opset"]


def test_a_retrained_model_is_evaluated_again(tmp_path, monkeypatch):
    exported, steps, scored, evaluate = run_with_an_export(tmp_path, monkeypatch)
    exported.write_text("export")
    evaluate()
    steps.mark("stage1", "retrained")
    evaluate()
    assert scored == ["export", "export"]


def test_the_keys_of_trained_models_and_baselines(tmp_path):
    config = TrainConfig()
    steps = Steps(tmp_path)
    steps.mark("stage2", "k2")
    assert run_step.scored_model_key(tmp_path, "stage2", config, steps) == "k2"
    assert run_step.scored_model_key(tmp_path, "bm25", config, steps) == ""
    assert run_step.scored_model_key(tmp_path, "mnrl", config, steps) != run_step.scored_model_key(
        tmp_path, "mnrl", TrainConfig.model_validate({"mnrl": {"epochs": 2}}), steps)


def test_a_cache_from_before_per_query_ndcg_is_scored_again(tmp_path, monkeypatch):
    """Caches written before ``ndcg_by_query`` existed have the right key but not what the paired
    bootstrap needs: they are scored again once, then read from the cache."""
    exported, _, scored, evaluate = run_with_an_export(tmp_path, monkeypatch)
    exported.write_text("export")
    evaluate()
    cache = tmp_path / "run" / "eval" / "test" / "stage1-int8-onnx.json"
    old = json.loads(cache.read_text())
    assert set(old["ndcg_by_query"]) == {"red drill", "garden hose"}
    del old["ndcg_by_query"]
    cache.write_text(json.dumps(old))
    evaluate()
    evaluate()
    assert scored == ["export", "export"]
    assert "ndcg_by_query" in json.loads(cache.read_text())
