"""The MNRL baseline is a step of the run (``mnrl``, marker ``RUN/.steps/mnrl``), not a side effect of
scoring: the evaluation only loads ``RUN/baselines/mnrl/model`` and fails with a clear error naming the
step when it is missing (it used to train the baseline inside its scorer, so evaluating a run could
silently start a long training); the step trains once and is skipped when its output exists for the
same inputs. Training itself is replaced by a stand-in here (the slow end-to-end test trains it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trainer.baselines
import trainer.encoder
from mr_opensearch.core.errors import MrosError
from trainer import run
from trainer.config import TrainConfig
from trainer.data import Catalog, Judgments
from trainer.evaluation import DenseScorer, run_step
from trainer.run_data import LoadedData
from trainer.steps import Steps, step_key

CATALOG = Catalog(["a", "b", "c", "d"], ["red drill", "blue drill", "garden hose", "red hose"])
VOCAB = ["red", "blue", "drill", "garden", "hose"]
MNRL_CONFIG = {"stage2": {"enabled": False}, "eval": {"splits": ["test"], "baselines": ["mnrl"]}}


def bag_of_words(texts: list[str]) -> np.ndarray:
    return np.array([[float(word in text.split()) + 0.01 for word in VOCAB] for text in texts], dtype=np.float32)


def tiny_data() -> LoadedData:
    frame = pd.DataFrame([("red drill", "a", 2), ("red drill", "b", 1), ("red drill", "c", 0),
                          ("garden hose", "c", 2), ("garden hose", "d", 1), ("garden hose", "a", 0)],
                         columns=["query", "product_id", "grade"])
    judgments = Judgments(frame)
    return LoadedData(CATALOG, judgments, {"train": judgments, "validation": judgments, "test": judgments})


class FakeModel:
    def __init__(self, source: str) -> None:
        self.source = source

    def save(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "modules.json").write_text("[]")


@pytest.fixture
def no_training(monkeypatch):
    """Any MNRL training fails the test."""
    def train_mnrl(*args, **kwargs):
        raise AssertionError("the MNRL baseline was trained")
    monkeypatch.setattr(trainer.baselines, "train_mnrl", train_mnrl)


@pytest.fixture
def stand_in_training(monkeypatch):
    """MNRL training replaced by a stand-in that records its calls (the step's logic is what is tested)."""
    calls: list[dict] = []

    def train_mnrl(model, judgments, catalog, config, out_dir, progress=True):
        calls.append({"model": model.source, "pairs": len(judgments), "config": config.model_dump(), "out": out_dir})
        return {"train_pairs": 2, "steps": 1, "train_loss": 0.5}
    monkeypatch.setattr(trainer.baselines, "train_mnrl", train_mnrl)
    monkeypatch.setattr(trainer.encoder, "load_encoder", lambda name, max_seq_length=None: FakeModel(name))
    return calls


def test_the_evaluation_does_not_train_a_missing_mnrl_baseline_and_names_the_step(tmp_path, no_training):
    run_dir = tmp_path / "run"
    config = TrainConfig.model_validate(MNRL_CONFIG)
    with pytest.raises(MrosError) as caught:
        run_step.evaluate_run(run_dir, config, tiny_data(), progress=False, log=lambda line: None, data_key="d")
    error = caught.value
    assert str(run_dir / "baselines" / "mnrl" / "model") in str(error)
    assert "not been trained" in str(error) and "does not train it" in str(error)
    assert "`mnrl` step of `mros train`" in error.hint and f"mros train --out {run_dir}" in error.hint
    assert not (run_dir / "baselines").exists() and not (run_dir / ".steps" / "mnrl").exists()


def test_the_evaluation_loads_the_trained_mnrl_baseline(tmp_path, monkeypatch, no_training):
    run_dir = tmp_path / "run"
    model_dir = run_dir / "baselines" / "mnrl" / "model"
    model_dir.mkdir(parents=True)
    loaded: list[str] = []

    def load_encoder(name, max_seq_length=None):
        loaded.append(name)
        return FakeModel(name)
    monkeypatch.setattr(trainer.encoder, "load_encoder", load_encoder)
    monkeypatch.setattr(run_step, "dense_scorer", lambda model, catalog, name, *args: DenseScorer(bag_of_words, catalog, name))
    config = TrainConfig.model_validate(MNRL_CONFIG)
    metrics = run_step.evaluate_run(run_dir, config, tiny_data(), progress=False, log=lambda line: None, data_key="d")
    assert loaded == [str(model_dir)]
    assert set(metrics["splits"]["test"]) == {"mnrl"}
    assert (run_dir / "eval" / "test" / "mnrl.json").exists()


def test_the_mnrl_step_trains_once_and_is_skipped_when_its_output_exists(tmp_path, stand_in_training):
    run_dir = tmp_path / "run"
    steps = Steps(run_dir)
    config = TrainConfig.model_validate({**MNRL_CONFIG, "model": {"base": "some/base"}})
    logged: list[str] = []
    run.mnrl_step(config, run_dir, tiny_data(), steps, "data-key", False, logged.append)
    out = run_dir / "baselines" / "mnrl"
    assert stand_in_training == [{"model": "some/base", "pairs": 6, "config": config.mnrl.model_dump(), "out": out}]
    assert (out / "model" / "modules.json").exists()
    assert json.loads((out / "training.json").read_text()) == {"train_pairs": 2, "steps": 1, "train_loss": 0.5}
    # the key existing run directories hold: the data's key and the mnrl config (not the trained models)
    assert steps.key_of("mnrl") == step_key("data-key" + json.dumps(config.mnrl.model_dump(), sort_keys=True))
    assert logged == ["baseline: training the MNRL recipe on exact pairs"]

    run.mnrl_step(config, run_dir, tiny_data(), steps, "data-key", False, logged.append)
    assert len(stand_in_training) == 1  # skipped: done for the same inputs
    assert "already trained, skipping" in logged[-1]
    # the mnrl config's key does not depend on Stage 1 or Stage 2: retraining them keeps the baseline
    steps.mark("stage1", "retrained")
    run.mnrl_step(config, run_dir, tiny_data(), steps, "data-key", False, logged.append)
    assert len(stand_in_training) == 1


def test_the_mnrl_step_runs_again_when_its_inputs_or_output_change(tmp_path, stand_in_training):
    import shutil

    run_dir = tmp_path / "run"
    steps = Steps(run_dir)
    config = TrainConfig.model_validate(MNRL_CONFIG)
    run.mnrl_step(config, run_dir, tiny_data(), steps, "data-key", False, lambda line: None)
    changed = TrainConfig.model_validate({**MNRL_CONFIG, "mnrl": {"epochs": 2}})
    run.mnrl_step(changed, run_dir, tiny_data(), steps, "data-key", False, lambda line: None)
    assert [c["config"]["epochs"] for c in stand_in_training] == [1.0, 2.0]
    shutil.rmtree(run_dir / "baselines" / "mnrl" / "model")  # the output gone: trained again
    run.mnrl_step(changed, run_dir, tiny_data(), steps, "data-key", False, lambda line: None)
    assert len(stand_in_training) == 3


def test_no_mnrl_step_without_the_mnrl_baseline(tmp_path, no_training):
    run_dir = tmp_path / "run"
    config = TrainConfig.model_validate({"eval": {"baselines": ["bm25", "base"]}})
    run.mnrl_step(config, run_dir, tiny_data(), Steps(run_dir), "data-key", False, lambda line: None)
    assert not (run_dir / "baselines").exists() and not (run_dir / ".steps" / "mnrl").exists()


def test_train_run_trains_the_mnrl_baseline_before_the_evaluation(tmp_path, monkeypatch):
    """The order of the run's steps: the ``mnrl`` step after the export and before the evaluation, with
    the data's key (the one its marker holds in existing run directories)."""
    order: list[str] = []

    def step(name, result=None):
        def record(*args, **kwargs):
            order.append(name)
            return result
        return record
    monkeypatch.setattr(run, "stage1_step", step("stage1", {}))
    monkeypatch.setattr(run, "export_step", step("export"))
    monkeypatch.setattr(run, "evaluate_run", step("evaluate", {"splits": {}}))
    monkeypatch.setattr(run, "write_model_card", step("model card"))
    keys: list[str] = []

    def mnrl_step(config, run_dir, data, steps, data_key, progress, log):
        order.append("mnrl")
        keys.append(data_key)
    monkeypatch.setattr(run, "mnrl_step", mnrl_step)
    config = TrainConfig.model_validate({**MNRL_CONFIG, "boundaries": {"enabled": False}})
    run.train_run(config, tmp_path / "run", progress=False, log=lambda line: None, data=tiny_data())
    assert order == ["stage1", "export", "mnrl", "evaluate", "model card"]
    from trainer.config import key_data

    assert keys == [step_key(json.dumps([key_data(("data",), config.data), config.model.model_dump()], sort_keys=True))]
