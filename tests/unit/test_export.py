"""Export parity and the ML Commons package, on a tiny random model."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import onnx
import pytest
from tiny_models import build_tiny_sentence_transformer

from trainer.export import PARITY_TEXTS, ExportParityError, OnnxEncoder, export_for_ml_commons, mean_cosine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "model", PARITY_TEXTS * 5)


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    return export_for_ml_commons(tiny_model, tmp_path_factory.mktemp("onnx"))


def test_onnx_versions_inputs_and_output(exported):
    for path in (exported.fp32_onnx, exported.int8_onnx):
        model = onnx.load(str(path))
        assert model.ir_version <= 9
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 19
        assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
        assert [o.name for o in model.graph.output] == ["last_hidden_state"]
        assert (path.parent / "tokenizer.json").exists()


def test_parity_against_freshly_loaded_model(exported, tiny_model):
    from sentence_transformers import SentenceTransformer

    texts = ["cordless drill", "taladro", "電動ドリル"]
    fresh = SentenceTransformer(str(tiny_model), device="cpu").encode(texts, normalize_embeddings=True)
    onnx_emb = OnnxEncoder(exported.fp32_onnx, exported.fp32_onnx.parent / "tokenizer.json").encode(texts)
    assert mean_cosine(fresh, onnx_emb) >= 0.9999
    assert exported.parity["fp32_mean_cosine"] >= 0.9999
    assert exported.parity["int8_mean_cosine"] >= 0.99


def test_ml_commons_package(exported):
    with zipfile.ZipFile(exported.zip_path) as zf:
        names = sorted(zf.namelist())
    assert names == ["model.onnx", "tokenizer.json"]
    register = json.loads((exported.out_dir / "ml-commons.json").read_text())
    import hashlib

    assert register["model_content_hash_value"] == hashlib.sha256(exported.zip_path.read_bytes()).hexdigest()
    assert register["model_content_size_in_bytes"] == exported.zip_path.stat().st_size
    cfg = register["model_config"]
    assert cfg["model_type"] == "bert" and cfg["embedding_dimension"] == 32
    assert cfg["pooling_mode"] == "MEAN" and cfg["normalize_result"] is True
    assert cfg["framework_type"] == "sentence_transformers"
    assert register["model_format"] == "ONNX"


def test_tokenizer_truncates_long_inputs(exported):
    enc = OnnxEncoder(exported.int8_onnx, exported.int8_onnx.parent / "tokenizer.json")
    out = enc.encode(["drill " * 500])
    assert out.shape == (1, 32) and np.isfinite(out).all()


def test_parity_failure_is_loud(tiny_model, tmp_path):
    with pytest.raises(ExportParityError, match="int8 ONNX parity failed"):
        export_for_ml_commons(tiny_model, tmp_path, min_int8_cosine=1.01)


def test_length_sorted_batches_keep_the_input_order(exported):
    enc = OnnxEncoder(exported.fp32_onnx, exported.fp32_onnx.parent / "tokenizer.json")
    texts = ["a", "cordless drill with two batteries and a case", "taladro", "電動ドリル 充電式 18V"]
    together = enc.encode(texts, batch_size=2)
    one_by_one = np.concatenate([enc.encode([t]) for t in texts])
    assert np.allclose(together, one_by_one, atol=1e-5)


def test_int8_graph_is_fused_for_onnx_runtime_kernels(exported):
    model = onnx.load(str(exported.int8_onnx))
    ops = {(n.domain or "ai.onnx", n.op_type) for n in model.graph.node}
    assert ("com.microsoft", "QAttention") in ops  # attention runs as one int8 kernel
    assert exported.parity["int8_fused_ops"]["Attention"] == 2  # one per layer of the tiny model
    # the header declares only the domains the graph uses (old runtimes reject unknown domain versions)
    assert {o.domain or "ai.onnx" for o in model.opset_import} == {"ai.onnx", "com.microsoft"}
    plain = onnx.load(str(exported.fp32_onnx))
    assert {n.domain or "ai.onnx" for n in plain.graph.node} == {"ai.onnx"}  # fp32 stays plain ONNX


def test_unfused_int8_export_uses_standard_onnx_ops_only(tiny_model, tmp_path):
    result = export_for_ml_commons(tiny_model, tmp_path, fuse=False)
    model = onnx.load(str(result.int8_onnx))
    assert {n.domain or "ai.onnx" for n in model.graph.node} == {"ai.onnx"}
    assert result.parity["int8_fused_ops"] is None
    assert result.parity["int8_mean_cosine"] >= 0.99
