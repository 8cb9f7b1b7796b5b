"""Stage 1 writes checkpoints and resumes from the newest one."""

from __future__ import annotations

import pytest
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset

from trainer.config import Stage1Config, TrainConfig, load_config
from trainer.encoder import load_encoder
from trainer.run_data import load_data
from trainer.stage1 import latest_checkpoint, train_stage1

pytestmark = pytest.mark.slow


def test_resume_from_checkpoint(tmp_path):
    data_dir = write_synthetic_dataset(tmp_path / "data", n_products=40, n_queries=30)
    config = TrainConfig.model_validate({"data": {"dir": str(data_dir)}})
    data = load_data(config)
    base = build_tiny_sentence_transformer(tmp_path / "base", data.catalog.texts + data.judgments.queries)
    run = tmp_path / "run"
    first = train_stage1(load_encoder(str(base)), data.splits["train"], data.catalog,
                         Stage1Config(max_steps=4, save_steps=2, queries_per_batch=4), run, progress=False)
    assert first["steps"] == 4 and first["resumed_from"] is None
    assert latest_checkpoint(run / "checkpoints" / "stage1").endswith("checkpoint-4")
    # a longer run (as after a crash or a raised max_steps) continues from step 4
    second = train_stage1(load_encoder(str(base)), data.splits["train"], data.catalog,
                          Stage1Config(max_steps=6, save_steps=2, queries_per_batch=4), run, progress=False)
    assert second["resumed_from"].endswith("checkpoint-4") and second["steps"] == 6


def test_config_files_yaml_and_toml(tmp_path):
    (tmp_path / "c.toml").write_text("[stage1]\npartial_weight = 0.25\n[data.split]\nseed = 7\n")
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.stage1.partial_weight == 0.25 and cfg.data.split.seed == 7
    (tmp_path / "c.yaml").write_text(cfg.dump_yaml())
    assert load_config(tmp_path / "c.yaml") == cfg


def test_options_at_their_neutral_value_do_not_change_step_hashes():
    """A run made before an option existed keeps its hashes while the option stays at the value that
    reproduces the old behaviour; any other value changes them."""
    from trainer.config import NEUTRAL_VALUES, TrainConfig, key_data

    config = TrainConfig()
    data = key_data(("data",), config.data)
    assert "max_queries" not in data and "max_catalog_products" not in data
    assert "weight" not in key_data(("stage2",), config.stage2)["circle"]
    config.data.max_queries = 500
    config.stage2.circle.weight = 0.0
    assert key_data(("data",), config.data)["max_queries"] == 500
    assert key_data(("stage2",), config.stage2)["circle"]["weight"] == 0.0
    assert all(len(path) >= 2 for path in NEUTRAL_VALUES)
