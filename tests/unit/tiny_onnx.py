"""Tiny hand-built ONNX token-embedding models for unit tests: token embeddings are rows of a fixed table
looked up by token id (``Gather``), with a word-level tokenizer, so no torch and no download is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def lookup_graph(path: Path, table: np.ndarray, static_dim: bool = True) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
    out = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                        ["batch", "seq", table.shape[1] if static_dim else "dim"])
    # attention_mask is an input (as in every export) that only pooling reads: padded rows stay visible
    initializers = [numpy_helper.from_array(table, "table")]
    if static_dim:
        nodes = [helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"], axis=0)]
    else:  # a reshape to a shape computed at run time: ONNX Runtime cannot tell the output size
        initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"))
        nodes = [helper.make_node("Gather", ["table", "input_ids"], ["rows"], axis=0),
                 helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
                 helper.make_node("Concat", ["ids_shape", "minus_one"], ["target"], axis=0),
                 helper.make_node("Reshape", ["rows", "target"], ["last_hidden_state"])]
    graph = helper.make_graph(nodes, "lookup", [ids, mask], [out], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def word_tokenizer(path: Path, words: list[str], truncation: int | None = None) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = WhitespaceSplit()
    if truncation:
        tok.enable_truncation(max_length=truncation)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return path
