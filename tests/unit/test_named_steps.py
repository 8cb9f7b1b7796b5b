"""The named steps that train_labeler, export_for_ml_commons, train_run, run_stage2 and run_job are made of,
each checked on its own (the whole paths are covered by test_labeler, test_export and test_train_end_to_end)."""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from mr_opensearch.core.errors import MrosError
from mr_opensearch.job.orchestration import RunCatalog, StepTimer, run_catalog, run_summary
from trainer.config import TrainConfig
from trainer.data import Judgments
from trainer.export import (
    ReferenceEmbeddings,
    check_export_arguments,
    ml_commons_model_config,
    write_ml_commons_zip,
)
from trainer.labeler.config import LabelerConfig
from trainer.labeler.train import (
    TrainingLoopResult,
    build_optimizer,
    calibrate_on_validation,
    steps_fitting_budget,
    training_metrics,
)
from trainer.run import boundary_models, prepare_run_dir
from trainer.stage2_step import labeler_identity, stage2_labeler


def test_steps_fitting_budget():
    # 10 steps took 20 s: 2 s/step, so 1 minute holds 30 steps
    assert steps_fitting_budget(10, 20.0, 1.0) == (30, 2.0)
    # a budget already spent still allows one more step than taken
    assert steps_fitting_budget(50, 600.0, 1.0) == (51, 12.0)


def test_optimizer_decays_weights_but_not_biases_or_norms_and_follows_the_plan():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(2, 2)
            self.LayerNorm = torch.nn.LayerNorm(2)

    config = LabelerConfig(learning_rate=1e-3, weight_decay=0.05, warmup_ratio=0.0)
    plan = {"total": 10}
    optimizer, scheduler = build_optimizer(Tiny(), config, plan)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and len(decayed["params"]) == 1  # dense.weight
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3  # dense.bias, LayerNorm weight and bias
    plan["total"] = 3  # the budget re-planning shortens the schedule while training runs
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * (3 - 2) / (3 - 1))  # 10 planned: 8/9


def test_training_metrics_count_pairs_seen_and_the_final_loss():
    config = LabelerConfig(backbone="tiny", batch_size=16, epochs=2)
    loop = TrainingLoopResult(steps=5, planned_steps=8, stopped_early=True, losses=[1.0, 3.0], seconds=1.26)
    metrics = training_metrics(config, "local", "short", {"train": {"pairs": 60}}, 60, loop)
    assert metrics["train_pairs_seen"] == 80 and metrics["train_steps"] == 5 and metrics["planned_steps"] == 8
    assert metrics["stopped_by_time_budget"] is True and metrics["final_train_loss"] == 2.0
    assert metrics["train_seconds"] == 1.3
    assert training_metrics(config, "local", "short", {}, 60, TrainingLoopResult(0, 1, False, [], 0.0))[
        "final_train_loss"] is None


def test_without_a_validation_split_the_temperature_stays_one():
    lines: list[str] = []
    metrics: dict = {}
    empty = Judgments(pd.DataFrame({"query": [], "product_id": [], "grade": []}))
    result = calibrate_on_validation(None, empty, None, LabelerConfig(), False, metrics, lines.append)
    assert result.calibration == {"temperature": 1.0} and result.logits is None and metrics == {}
    assert lines == ["no validation split: temperature left at 1.0"]


def test_export_arguments(tmp_path):
    with pytest.raises(MrosError, match="does not exist"):
        check_export_arguments(tmp_path / "missing", "int8", True)
    with pytest.raises(MrosError, match="unknown package variant"):
        check_export_arguments(tmp_path, "fp16", True)
    assert check_export_arguments(tmp_path, "int8", True) == "int8"
    assert check_export_arguments(tmp_path, "int8", False) == "fp32"  # nothing quantized: fp32 is shipped


def test_ml_commons_model_config_and_zip(tmp_path):
    reference = ReferenceEmbeddings(["a"], np.zeros((1, 8)), 64, "cls", False, {"model_type": "xlm-roberta"})
    config = ml_commons_model_config(reference)
    assert config["embedding_dimension"] == 8 and config["pooling_mode"] == "CLS"
    assert config["normalize_result"] is False and config["model_type"] == "xlm-roberta"
    assert json.loads(config["all_config"]) == {"model_type": "xlm-roberta"}
    graph = tmp_path / "fp32" / "model.onnx"
    graph.parent.mkdir()
    graph.write_bytes(b"graph")
    (graph.parent / "tokenizer.json").write_text("{}")
    write_ml_commons_zip(graph, tmp_path / "ml-commons.zip")
    with zipfile.ZipFile(tmp_path / "ml-commons.zip") as zf:
        assert sorted(zf.namelist()) == ["model.onnx", "tokenizer.json"] and zf.read("model.onnx") == b"graph"


def test_boundary_models_follow_the_stages(tmp_path):
    stage1_only = TrainConfig.model_validate({"model": {"base": "base-id"}, "stage2": {"enabled": False}})
    assert boundary_models(stage1_only, tmp_path) == {"stage1": str(tmp_path / "model"), "base": "base-id"}
    both = TrainConfig.model_validate({"model": {"base": "base-id"}, "stage2": {"enabled": True}})
    assert list(boundary_models(both, tmp_path).items()) == [
        ("stage2", str(tmp_path / "model")), ("stage1", str(tmp_path / "stage1-model")), ("base", "base-id")]


def test_prepare_run_dir_notes_a_changed_config(tmp_path):
    run = tmp_path / "run"
    lines: list[str] = []
    prepare_run_dir(TrainConfig(), run, resume=True, log=lines.append)
    assert (run / "config.yaml").exists() and "versions" in json.loads((run / "environment.json").read_text())
    assert lines == []
    changed = TrainConfig.model_validate({"stage1": {"epochs": 7}})
    prepare_run_dir(changed, run, resume=True, log=lines.append)
    assert len(lines) == 1 and "differs from this config" in lines[0]
    assert "epochs: 7" in (run / "config.yaml").read_text()


def test_labeler_identity(tmp_path):
    assert labeler_identity(None) == ("", {})
    assert labeler_identity(tmp_path) == (str(tmp_path), {})
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.5}')
    assert labeler_identity(tmp_path) == ('{"accuracy": 0.5}', {"accuracy": 0.5})


def test_stage2_without_a_labeler_says_so():
    lines: list[str] = []
    cfg = TrainConfig.model_validate({"stage2": {"enabled": True}}).stage2
    assert stage2_labeler(cfg, {}, False, lines.append) is None
    assert lines and "no labeler configured" in lines[0]


def test_step_timer_records_each_step_even_when_it_fails():
    timer = StepTimer()
    with timer("fast"):
        pass
    with pytest.raises(RuntimeError), timer("broken"):
        time.sleep(0.01)
        raise RuntimeError
    assert set(timer.seconds) == {"fast", "broken"} and timer.seconds["broken"] >= 0.01


def test_run_catalog_and_summary(tmp_path):
    class Loaded:
        class catalog:
            ids, texts = ["p1", "p2"], ["drill", "faucet"]

    config = TrainConfig.model_validate({"data": {"dir": str(tmp_path), "catalog": "products.csv"}})
    catalog = run_catalog(config, Loaded)
    assert isinstance(catalog, RunCatalog) and catalog.path == str(tmp_path / "products.csv")
    assert catalog.embedding_texts() == ["drill", "faucet"]

    class Indexed:
        index, alias = "mros-abc", "products"

    class RunConfigLike:
        profile = "quick"

    summary = run_summary(RunConfigLike, tmp_path, Indexed, tmp_path / "report" / "index.html", {"train": 1.0},
                          time.time(), {"splits": {"test": {"stage1": {"ndcg@10": 0.5}}}},
                          {"quality": {"ndcg@10": 0.4}})
    assert summary["test_ndcg@10"] == {"stage1": 0.5} and summary["engine_ndcg@10"] == 0.4
    assert summary["index"] == "mros-abc" and summary["seconds"] == {"train": 1.0}
