"""The client-mode encoder variant (``openvino-int8``) on a tiny random model: the export builds it with
parity and the right dimension, a client deploy serves it and records it in the manifest, a query encoder
of another variant is refused, and without OpenVINO client mode serves the ML Commons variant."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from scripted_cluster import CATALOG, engine_cluster, engine_deploy
from tiny_models import build_tiny_sentence_transformer, write_synthetic_dataset

from mr_opensearch.core.encoder_package import OPENVINO_INT8, load_served_encoder, model_sha256
from mr_opensearch.core.errors import MrosError
from mr_opensearch.core.token_batches import token_batches
from mr_opensearch.search.manifest import Manifest
from mr_opensearch.search.queries import QueryEmbedder
from mr_opensearch.search.served_model import client_variant, for_client, load_run, load_served_dir
from trainer.export import export_for_ml_commons, mean_cosine

pytest.importorskip("openvino")
pytest.importorskip("nncf")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def titles(tmp_path_factory) -> list[str]:
    data = write_synthetic_dataset(tmp_path_factory.mktemp("data"), n_products=512, n_queries=10)
    with open(data / "products.csv", encoding="utf-8") as fh:
        return [r["product_title"] for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def run(titles, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    model = build_tiny_sentence_transformer(run / "model", titles + list(CATALOG.titles))
    exported = export_for_ml_commons(model, run / "onnx", calibration_texts=titles[:200])
    assert exported.client_variant == OPENVINO_INT8 and exported.notes == []
    (run / "boundaries.json").write_text(json.dumps({"partial": 0.3, "exact": 0.6}))
    return run


def test_the_openvino_variant_keeps_parity_on_512_titles_and_the_dimension(run, titles):
    meta = json.loads((run / "onnx" / "ml-commons.json").read_text())
    assert meta["variant"] == "int8" and meta["client_variant"] == OPENVINO_INT8
    assert meta["parity"]["openvino_int8_mean_cosine"] >= 0.99
    assert meta["parity"]["openvino_int8_calibration_texts"] == 200
    fp32 = load_served_encoder(run / "onnx", variant="fp32").encode(titles)
    fast = load_served_encoder(run / "onnx", variant=OPENVINO_INT8)
    assert fast.variant == OPENVINO_INT8
    assert fast.dimension == meta["model_config"]["embedding_dimension"] == fp32.shape[1]
    vectors = fast.encode(titles, batch_size=16)
    assert len(titles) == 512 and vectors.shape == fp32.shape
    assert mean_cosine(fp32, vectors) >= 0.99
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # one text alone (a query) gets the vector it gets inside a batch
    assert np.allclose(fast.encode([titles[7]])[0], vectors[7], atol=1e-4)


FIRST_CALLS_AT_ONCE = """
import sys, threading
from pathlib import Path
from mr_opensearch.core.openvino_encoder import OpenVinoEncoder
folder = Path(sys.argv[1])
encoder = OpenVinoEncoder(folder / "model.xml", folder / "tokenizer.json")
start = threading.Barrier(8)
def first_call(i):
    start.wait()
    encoder.encode([f"cordless drill {i}"])
threads = [threading.Thread(target=first_call, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("answered")
"""


def test_threads_making_their_first_call_at_once_never_deadlock(run):
    """Eight threads of a fresh process encode at the same moment right after the load (what ``mros serve``
    does when traffic meets a newly loaded model): before the encoder warmed up on its loading thread,
    3 of 20 such processes hung for good inside OpenVINO's pybind11 numpy bridge."""
    folder = run / "onnx" / OPENVINO_INT8
    root = Path(__file__).resolve().parents[2]
    for attempt in range(12):
        try:
            done = subprocess.run([sys.executable, "-c", FIRST_CALLS_AT_ONCE, str(folder)], cwd=root,
                                  capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process {attempt + 1} of 12 hung with 8 threads making their first call at once")
        assert done.returncode == 0 and done.stdout.strip() == "answered", done.stderr[-2000:]


def test_a_client_deploy_serves_the_variant_and_records_it(run):
    cluster, outcome = engine_deploy(run, engine_cluster(run), embedding="client")
    manifest = Manifest.model_validate(outcome.manifest)
    xml = run / "onnx" / OPENVINO_INT8 / "model.xml"
    assert manifest.encoder_variant == OPENVINO_INT8
    assert manifest.onnx_sha256 == model_sha256(xml)
    served = Path(str(manifest.model_dir))
    assert {"model.xml", "model.bin", "tokenizer.json"} <= {p.name for p in served.iterdir()}
    assert load_served_dir(served).variant == OPENVINO_INT8
    # another variant, other vectors: never the index an int8 deploy of the same model and catalog fills
    _, engine = engine_deploy(run, engine_cluster(run), embedding="auto")
    assert engine.embedding == "engine" and engine.index != outcome.index
    assert Manifest.model_validate(engine.manifest).encoder_variant == "int8"
    stored = np.array([d["embedding"] for d in cluster.docs[outcome.index].values()])
    titles = [d["title"] for d in cluster.docs[outcome.index].values()]
    assert np.allclose(stored, load_served_encoder(served).encode(titles), atol=1e-5)


def test_queries_of_another_variant_are_refused(run):
    _, outcome = engine_deploy(run, engine_cluster(run), embedding="client")
    manifest = Manifest.model_validate(outcome.manifest)
    int8_copy = Path(str(manifest.model_dir)).parent / "int8-copy"
    (int8_copy).mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (int8_copy / name).write_bytes((run / "onnx" / "int8" / name).read_bytes())
    (int8_copy / "ml-commons.json").write_text((run / "onnx" / "ml-commons.json").read_text()
                                               .replace('"variant": "int8"', '"variant": "."'))
    with pytest.raises(MrosError, match=r"int8 variant, but index .* openvino-int8"):
        _ = QueryEmbedder(manifest, model=int8_copy).encoder
    # the run's export folder holds both: the index's variant is taken
    from_run = QueryEmbedder(manifest, run=run)
    assert from_run.encoder.variant == OPENVINO_INT8
    served = QueryEmbedder(manifest)
    assert np.allclose(from_run.encode(["cordless drill"]), served.encode(["cordless drill"]))


def test_openvino_queries_are_padded_to_8_tokens_and_keep_their_vectors(run, titles):
    """The query encoder of the OpenVINO variant pads each query to a multiple of 8 tokens (faster kernels);
    the padding is masked, so the vectors are those of the unpadded encoder, up to int8 rounding."""
    _, outcome = engine_deploy(run, engine_cluster(run), embedding="client")
    queries = QueryEmbedder(Manifest.model_validate(outcome.manifest), run=run)
    assert queries.encoder.pad_to_multiple == 8
    plain = load_served_encoder(run / "onnx", variant=OPENVINO_INT8)
    assert plain.pad_to_multiple == 1
    batch = next(token_batches(plain.tokenizer, ["cordless drill"], 1, pad_to_multiple=8))
    assert batch.input_ids.shape[1] % 8 == 0 and 0 < batch.attention_mask.sum() < batch.input_ids.shape[1]
    sample = titles[:64]
    padded = np.stack([queries.encode([text])[0] for text in sample])
    unpadded = np.stack([plain.encode([text])[0] for text in sample])
    cosines = (padded * unpadded).sum(axis=1)
    assert cosines.min() > 0.999, cosines.min()


def test_without_openvino_client_mode_serves_the_ml_commons_variant(run, monkeypatch):
    import mr_opensearch.core.openvino_encoder as openvino_encoder

    model = load_run(run)
    assert client_variant(model) == (OPENVINO_INT8, None)
    assert for_client(model, OPENVINO_INT8).served_key == f"{model.sha256}-{OPENVINO_INT8}"
    monkeypatch.setattr(openvino_encoder, "openvino_available", lambda: False)
    variant, why = client_variant(model)
    assert variant == "int8" and "pip install 'mros[openvino]'" in str(why)
    _, outcome = engine_deploy(run, engine_cluster(run), embedding="client")
    assert Manifest.model_validate(outcome.manifest).encoder_variant == "int8"
    assert any("needs OpenVINO" in w for w in outcome.warnings)


def test_single_queries_run_on_static_shape_models_with_the_same_vectors(run, titles):
    """A long-lived searcher compiles one model per padded query length in the background; once ready, a
    batch of one text of such a length runs on it (and a batch of several on the dynamic model), with the
    dynamic model's vectors up to float rounding; called twice, the compilation starts once."""
    from mr_opensearch.search.queries import load_query_encoder

    encoder = load_query_encoder(str((run / "onnx").resolve()), OPENVINO_INT8)
    sample = titles[:48]
    dynamic = np.stack([encoder.encode([text])[0] for text in sample])
    thread = encoder.compile_static_shapes((8, 16, 24, 32))
    assert encoder.compile_static_shapes() is thread
    thread.join(timeout=120)
    assert encoder.static_lengths == (8, 16, 24, 32)
    ran: list[int] = []
    compiled_models = dict(encoder._static)
    for length, compiled in compiled_models.items():
        original = compiled.create_infer_request

        def counting(original=original, length=length):
            ran.append(length)
            return original()
        encoder._static[length] = type("Counting", (), {"create_infer_request": staticmethod(counting)})()
    encoder._local = threading.local()  # fresh infer requests, so each length's creation is seen
    static = np.stack([encoder.encode([text])[0] for text in sample])
    lengths = {next(token_batches(encoder.tokenizer, [t], 1, pad_to_multiple=8)).input_ids.shape[1] for t in sample}
    assert set(ran) == lengths & {8, 16, 24, 32} and ran
    assert ((static * dynamic).sum(axis=1)).min() > 0.99999
    batched = encoder.encode(sample[:8], batch_size=8)
    assert ((batched * dynamic[:8]).sum(axis=1)).min() > 0.999
    encoder._static.update(compiled_models)


def test_the_searcher_compiles_static_query_shapes_for_an_openvino_index(run):
    from mr_opensearch.search.searcher import LiveIndex, Searcher

    _, outcome = engine_deploy(run, engine_cluster(run), embedding="client")
    manifest = Manifest.model_validate(outcome.manifest)
    searcher = Searcher(client=None, alias="products", run=run)
    embedder = searcher.embedder(LiveIndex(manifest.index, manifest, 10_000, 0.0))
    thread = embedder.encoder.compile_static_shapes()
    thread.join(timeout=120)
    assert embedder.encoder.static_lengths == (8, 16, 24, 32)
