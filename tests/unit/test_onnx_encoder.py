"""The torch-free ONNX encoder on a tiny hand-built graph: token embeddings are rows of a fixed table looked
up by token id, so every pooling mode and the normalisation can be recomputed by hand with numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import lookup_graph, word_tokenizer

from mr_opensearch.core.encoder_package import load_served_encoder, served_files
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.onnx_encoder import OnnxEncoder, pool

WORDS = ["[PAD]", "[UNK]", "drill", "sink", "tile", "saw", "cordless", "kitchen"]
DIM = 3
# row i is token i's embedding; the [PAD] row is large so that ignoring the mask would show
TABLE = np.array([[100.0, -100.0, 50.0]] + [[i, (i % 3) - 1.0, 0.5 * i * i - 4.0] for i in range(1, len(WORDS))],
                 dtype=np.float32)


def _graph(path: Path, table: np.ndarray = TABLE, static_dim: bool = True) -> Path:
    return lookup_graph(path, table, static_dim)


def _tokenizer(path: Path, truncation: int | None = None) -> Path:
    return word_tokenizer(path, WORDS, truncation)


def _package(folder: Path, pooling: str = "MEAN", normalize: bool = True, dim: int = DIM, variant: str = "int8",
             flat: bool = False) -> Path:
    files = folder if flat else folder / variant
    _graph(files / "model.onnx")
    _tokenizer(files / "tokenizer.json")
    meta = {"variant": variant, "model_format": "ONNX",
            "model_config": {"pooling_mode": pooling, "normalize_result": normalize, "embedding_dimension": dim}}
    (folder / "ml-commons.json").write_text(json.dumps(meta))
    return folder


def _rows(words: str) -> np.ndarray:
    return TABLE[[WORDS.index(w) for w in words.split()]]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


TEXTS = ["drill", "cordless drill saw", "kitchen sink tile drill"]


@pytest.fixture
def files(tmp_path):
    return _graph(tmp_path / "m" / "model.onnx"), _tokenizer(tmp_path / "m" / "tokenizer.json")


def test_each_pooling_mode_matches_a_hand_computation(files):
    # texts of different lengths share one batch, so the shorter ones are padded with the [PAD] row
    by_hand = {
        "mean": [_rows(t).mean(axis=0) for t in TEXTS],
        "mean_sqrt_len": [_rows(t).sum(axis=0) / np.sqrt(len(t.split())) for t in TEXTS],
        "max": [_rows(t).max(axis=0) for t in TEXTS],
        "cls": [_rows(t)[0] for t in TEXTS],
    }
    # spot check of the table for one text: "cordless drill saw" = ids 6, 2, 5
    assert np.allclose(by_hand["mean"][1], [13 / 3, 1 / 3, (14 + -2 + 8.5) / 3])
    for mode, expected in by_hand.items():
        raw = OnnxEncoder(*files, pooling=mode.upper(), normalize=False).encode(TEXTS)
        assert np.allclose(raw, np.stack(expected), atol=1e-5), mode
        unit = OnnxEncoder(*files, pooling=mode, normalize=True).encode(TEXTS, batch_size=2)
        assert np.allclose(unit, np.stack([_unit(e) for e in expected]), atol=1e-5), mode


def test_pool_masks_padding_and_refuses_unknown_modes():
    tokens = np.array([[[1.0, 2.0], [3.0, 6.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    assert pool(tokens, mask, "mean", normalize=False).tolist() == [[2.0, 4.0]]
    assert pool(tokens, mask, "max", normalize=False).tolist() == [[3.0, 6.0]]
    assert np.allclose(pool(tokens, mask, "mean_sqrt_len", normalize=False), [[4 / np.sqrt(2), 8 / np.sqrt(2)]])
    assert np.allclose(pool(tokens, mask, "mean"), [[2 / np.sqrt(20), 4 / np.sqrt(20)]])
    with pytest.raises(MrosError, match="pooling mode 'last_token'"):
        pool(tokens, mask, "last_token")


def test_truncation_is_capped_at_512_as_ml_commons_does(tmp_path, files):
    onnx_path, _ = files
    enc = OnnxEncoder(onnx_path, _tokenizer(tmp_path / "none" / "tokenizer.json"))
    assert enc.tokenizer.truncation["max_length"] == 512
    long_text = " ".join(["drill"] * 512 + ["saw"] * 100)  # the 100 saws lie beyond token 512
    assert np.allclose(enc.encode([long_text]), _unit(TABLE[WORDS.index("drill")]), atol=1e-6)
    assert OnnxEncoder(onnx_path, _tokenizer(tmp_path / "big" / "tokenizer.json", 4096)).tokenizer.truncation[
        "max_length"] == 512
    short = OnnxEncoder(onnx_path, _tokenizer(tmp_path / "short" / "tokenizer.json", 2), normalize=False)
    assert short.tokenizer.truncation["max_length"] == 2
    assert np.allclose(short.encode(["cordless drill saw"]), _rows("cordless drill").mean(axis=0))


def test_the_package_loader_uses_the_recorded_pooling_and_normalisation(tmp_path):
    package = _package(tmp_path / "onnx", pooling="CLS", normalize=False)
    enc = load_served_encoder(package)
    assert (enc.pooling, enc.normalize, enc.dimension) == ("cls", False, DIM)
    assert np.allclose(enc.encode(TEXTS), np.stack([_rows(t)[0] for t in TEXTS]))
    enc = load_served_encoder(_package(tmp_path / "max", pooling="MAX", normalize=True))
    assert np.allclose(enc.encode(["kitchen drill"]), _unit(_rows("kitchen drill").max(axis=0)))
    enc = load_served_encoder(_package(tmp_path / "sqrt", pooling="MEAN_SQRT_LEN", normalize=False))
    assert np.allclose(enc.encode(["kitchen drill"]), _rows("kitchen drill").sum(axis=0) / np.sqrt(2))


def test_served_files_resolves_the_export_and_the_served_copy_layouts(tmp_path):
    export = _package(tmp_path / "run" / "onnx", variant="fp32")
    onnx_path, tokenizer, meta = served_files(export)
    assert (onnx_path, tokenizer) == (export / "fp32" / "model.onnx", export / "fp32" / "tokenizer.json")
    assert meta["model_config"]["pooling_mode"] == "MEAN"
    served = _package(tmp_path / "models" / "abc123", flat=True)
    assert served_files(served)[:2] == (served / "model.onnx", served / "tokenizer.json")
    with pytest.raises(MrosError, match=r"int8[/\\]model.onnx not found"):
        served_files(export, variant="int8")


def test_bad_packages_are_clear_errors(tmp_path, files):
    onnx_path, tokenizer = files
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07this is not a protobuf model")
    with pytest.raises(MrosError, match=r"broken.onnx is not a valid ONNX model .*re-export with `mros export`"):
        OnnxEncoder(broken, tokenizer)
    with pytest.raises(MrosError, match=r"ONNX model .*absent.onnx not found"):
        OnnxEncoder(tmp_path / "absent.onnx", tokenizer)
    with pytest.raises(MrosError, match=r"tokenizer .*nope.json not found"):
        OnnxEncoder(onnx_path, tmp_path / "nope.json")
    with pytest.raises(MrosError, match=r"pooling mode 'WEIGHTEDMEAN' is not one ML Commons 3\.5 runs"):
        OnnxEncoder(onnx_path, tokenizer, pooling="WEIGHTEDMEAN")
    with pytest.raises(MrosError, match=r"makes 3-d vectors, ml-commons\.json says 384"):
        load_served_encoder(_package(tmp_path / "wrong-dim", dim=384))
    with pytest.raises(MrosError, match=r"ml-commons\.json not found"):
        load_served_encoder(onnx_path.parent)
    bad_meta = _package(tmp_path / "bad-meta")
    (bad_meta / "ml-commons.json").write_text("{not json")
    with pytest.raises(MrosError, match="not valid JSON"):
        load_served_encoder(bad_meta)
    missing_tok = _package(tmp_path / "no-tok")
    (missing_tok / "int8" / "tokenizer.json").unlink()
    with pytest.raises(MrosError, match=r"tokenizer.json not found"):
        load_served_encoder(missing_tok)


def test_dimension_is_measured_when_the_graph_leaves_it_symbolic(tmp_path):
    table = np.arange(len(WORDS) * 5, dtype=np.float32).reshape(len(WORDS), 5)
    enc = OnnxEncoder(_graph(tmp_path / "dyn.onnx", table, static_dim=False), _tokenizer(tmp_path / "t.json"))
    assert enc.session.get_outputs()[0].shape[-1] == "dim"
    assert enc.dimension == 5


def test_trainer_export_reexports_the_same_objects():
    pytest.importorskip("torch")
    import trainer.export as export

    assert export.OnnxEncoder is OnnxEncoder and export.pool is pool


def test_spinning_off_sets_the_session_option_and_changes_no_vector(files):
    spinning = OnnxEncoder(*files, threads=1)
    sleeping = OnnxEncoder(*files, threads=1, spinning=False)
    options = sleeping.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    with pytest.raises(Exception, match="allow_spinning"):  # not set: onnxruntime's default (spin) holds
        spinning.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert np.array_equal(spinning.encode(TEXTS), sleeping.encode(TEXTS))
