"""Encode throughput of a run's model: PyTorch fp32 vs ONNX fp32 vs ONNX int8 (batch 64 product titles),
file sizes, and the int8 model's nDCG@10 loss from RUN/metrics.json. Timed passes are interleaved
(a round times one pass of each variant) and the median per variant is reported, with the speed-up
of every round.

    python benchmarks/export_speed.py --run RUN --catalog ../shared/data/homedepot/products.csv --out docs/benchmarks/export.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of one timed pass per variant (interleaved); the median is reported")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import onnx
    import torch
    from sentence_transformers import SentenceTransformer

    from trainer.data import load_catalog
    from trainer.export import OnnxEncoder

    texts = load_catalog(args.catalog).texts[: args.texts]
    results: dict[str, dict] = {}

    def one_pass(fn) -> float:
        begin = time.perf_counter()
        for i in range(0, len(texts), args.batch):
            fn(texts[i : i + args.batch])
        return time.perf_counter() - begin

    model = SentenceTransformer(str(args.run / "model"), device="cpu")
    encoders = {"pytorch_fp32": lambda batch: model.encode(batch, batch_size=args.batch, normalize_embeddings=True)}
    for variant in ("fp32", "int8"):
        path = args.run / "onnx" / variant / "model.onnx"
        enc = OnnxEncoder(path, path.parent / "tokenizer.json")
        encoders[f"onnx_{variant}"] = lambda batch, enc=enc: enc.encode(batch, batch_size=args.batch)
        ops = [node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node]
        results[f"onnx_{variant}"] = {"file_bytes": path.stat().st_size,
                                      "fused_attention_nodes": sum(op in ("Attention", "QAttention") for op in ops)}
    # passes are interleaved (one pass of every variant per round), so a slow spell of the machine
    # hits all variants alike instead of one of them
    passes: dict[str, list[float]] = {name: [] for name in encoders}
    with torch.inference_mode():
        for fn in encoders.values():
            fn(texts[: args.batch])  # warm-up
        for _ in range(args.repeats):
            for name, fn in encoders.items():
                passes[name].append(one_pass(fn))
    for name, seconds_list in passes.items():
        seconds = statistics.median(seconds_list)
        results.setdefault(name, {}).update({"texts_per_second": len(texts) / seconds, "seconds": seconds,
                                             "texts_per_second_passes": [round(len(texts) / t, 1) for t in seconds_list]})
        print(name, results[name], flush=True)
    results["int8_speedup_per_round"] = [round(pt / q, 3) for pt, q in zip(passes["pytorch_fp32"], passes["onnx_int8"], strict=True)]
    results["int8_speedup_vs_pytorch_fp32"] = results["onnx_int8"]["texts_per_second"] / results["pytorch_fp32"]["texts_per_second"]
    results["int8_size_ratio_vs_fp32"] = results["onnx_int8"]["file_bytes"] / results["onnx_fp32"]["file_bytes"]
    metrics = json.loads((args.run / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    # the run's final model (stage2 when Stage 2 ran, else stage1) and its int8 export
    final = next(name[: -len("-int8-onnx")] for name in test if name.endswith("-int8-onnx"))
    base, q = test[final]["ndcg@10"], test[f"{final}-int8-onnx"]["ndcg@10"]
    results["ndcg@10"] = {"model": final, "pytorch_fp32": base, "onnx_int8": q, "relative_loss": (base - q) / base}
    results["parity"] = metrics.get("export")
    results["threads"] = torch.get_num_threads()
    results["texts"], results["batch"], results["repeats"] = len(texts), args.batch, args.repeats
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
