"""Where the int8 ONNX model spends its time, and what other dynamic-quantization variants give.

Builds int8 variants of a run's fp32 export (RUN/onnx/fp32/model.onnx) in --work, measures each one's
mean cosine to the fp32 ONNX model on 512 titles and its encode throughput (batch 64, interleaved
passes, median), and profiles the shipped int8 model (RUN/onnx/int8/model.onnx) by operator with
ONNX Runtime's profiler. Every variant is one that ML Commons' ONNX Runtime can run (no 4-bit
MatMulNBits).

    python benchmarks/int8_variants.py --run RUN --catalog ../shared/data/homedepot/products.csv \\
        --work /tmp/int8-variants --out docs/benchmarks/int8-variants.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

# name -> (fusion options set on the BERT optimizer (None: no fusion), quantize_dynamic keyword arguments)
VARIANTS: dict[str, tuple[dict | None, dict]] = {
    "shipped: fused, s8 weights per channel": ({}, {"per_channel": True}),
    "fused, s8 weights per tensor": ({}, {"per_channel": False}),
    "fused, u8 weights per channel": ({}, {"per_channel": True, "weight_type": "QUInt8"}),
    "fused, 7-bit range (reduce_range)": ({}, {"per_channel": True, "reduce_range": True}),
    "fused without SkipLayerNormalization": ({"enable_skip_layer_norm": False}, {"per_channel": True}),
    "fused, tanh-approximated GELU (FastGelu)": ({"enable_gelu_approximation": True}, {"per_channel": True}),
    "not fused, s8 weights per channel": (None, {"per_channel": True}),
}


def build(fp32: Path, out: Path, hf_config: dict, fusion: dict | None, quant: dict) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from trainer.export import _clamp_versions, fuse_transformer

    source = fp32
    if fusion is not None:
        fused = out.with_suffix(".fused.onnx")
        if fuse_transformer(fp32, fused, hf_config, fusion) is None:
            raise SystemExit(f"the optimizer fused no attention in {fp32} with options {fusion}")
        source = fused
    kwargs = dict(quant)
    kwargs["weight_type"] = getattr(QuantType, kwargs.pop("weight_type", "QInt8"))
    quantize_dynamic(str(source), str(out), extra_options={"DefaultTensorType": 1}, **kwargs)
    _clamp_versions(out)
    return out


def profile(path: Path, tokenizer_json: Path, texts: list[str], batch: int, work: Path) -> dict[str, float]:
    """Share of kernel time per operator type over one profiled pass (session start-up included)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.enable_padding()
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(work / "profile")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = []
    for start in range(0, len(texts), batch):
        enc = tokenizer.encode_batch(texts[start : start + batch])
        arrays = {"input_ids": [e.ids for e in enc], "attention_mask": [e.attention_mask for e in enc],
                  "token_type_ids": [e.type_ids for e in enc]}
        feeds.append({n: np.array(arrays[n], dtype=np.int64) for n in names})
    for feed in feeds:
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            by_op[op] = by_op.get(op, 0.0) + event["dur"]
    total = sum(by_op.values())
    return {op: round(t / total, 4) for op, t in sorted(by_op.items(), key=lambda kv: -kv[1])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="where the variants are written")
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from trainer.data import load_catalog
    from trainer.export import OnnxEncoder

    fp32 = args.run / "onnx" / "fp32" / "model.onnx"
    tokenizer_json = fp32.parent / "tokenizer.json"
    hf_config = json.loads((args.run / "model" / "config.json").read_text())
    texts = load_catalog(args.catalog).texts[: args.texts]
    args.work.mkdir(parents=True, exist_ok=True)
    reference = OnnxEncoder(fp32, tokenizer_json).encode(texts[:512])
    encoders, results = {}, {}
    for i, (name, (fusion, quant)) in enumerate(VARIANTS.items()):
        path = build(fp32, args.work / f"variant{i}.onnx", hf_config, fusion, quant)
        encoders[name] = OnnxEncoder(path, tokenizer_json)
        cosine = float((encoders[name].encode(texts[:512]) * reference).sum(1).mean())
        results[name] = {"mean_cosine_to_fp32": cosine, "file_bytes": path.stat().st_size}
        print(name, results[name], flush=True)

    def one_pass(encoder) -> float:
        begin = time.perf_counter()
        for start in range(0, len(texts), args.batch):
            encoder.encode(texts[start : start + args.batch], batch_size=args.batch)
        return len(texts) / (time.perf_counter() - begin)

    passes: dict[str, list[float]] = {name: [] for name in encoders}
    for encoder in encoders.values():
        encoder.encode(texts[: args.batch])
    for _ in range(args.repeats):
        for name, encoder in encoders.items():
            passes[name].append(one_pass(encoder))
    for name, values in passes.items():
        results[name].update({"texts_per_second": statistics.median(values), "passes": [round(v, 1) for v in values]})
        print(f"{name}: {results[name]['texts_per_second']:.1f} texts/s, cosine {results[name]['mean_cosine_to_fp32']:.4f}")
    shipped = args.run / "onnx" / "int8" / "model.onnx"
    share = profile(shipped, tokenizer_json, texts, args.batch, args.work)
    print("kernel time by operator (shipped int8):", share)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"variants": results, "shipped_int8_kernel_time_share": share, "texts": len(texts),
                                    "batch": args.batch, "repeats": args.repeats}, indent=2))


if __name__ == "__main__":
    main()
