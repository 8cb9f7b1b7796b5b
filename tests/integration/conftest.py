"""A real OpenSearch node for the integration tests, plus a tiny embedding model to feed it.

``opensearch_url`` / ``opensearch_client`` (session): ``MROS_OPENSEARCH_URL`` when set; otherwise a
node started with the same code as ``mros opensearch up`` on port 9250 (``MROS_TEST_OPENSEARCH_PORT``)
so a developer's own node on 9200 is left alone, stopped again at the end of the session (unless
it was already running before the session).

``tiny_model`` (session): a random small BERT sentence encoder with a fast tokenizer, built
in-process, exported to ONNX and packaged for ML Commons by the project's own export code.

Tests that need ML Commons or neural-search call the ``require_plugins`` fixture: the plugin zips are not
served by every Maven registry (see ``mr_opensearch/cluster/node/versions.py``), and such a test is skipped
with the reason rather than reported as passed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TEST_PORT = int(os.environ.get("MROS_TEST_OPENSEARCH_PORT", "9250"))
TEST_HEAP = os.environ.get("MROS_TEST_OPENSEARCH_HEAP", "1g")

CORPUS = {
    "p1": "cordless drill with two lithium batteries and a carrying case",
    "p2": "stainless steel kitchen sink with a single deep bowl",
    "p3": "outdoor solar garden lights, warm white, pack of eight",
    "p4": "cordless impact driver kit with charger",
    "p5": "ceramic floor tile in matte grey for bathrooms",
    "p6": "double bowl stainless kitchen sink with faucet",
    "p7": "led ceiling light fixture for the hallway",
    "p8": "garden hose reel cart with wheels",
    "p9": "interior wall paint, eggshell finish, one gallon",
    "p10": "adjustable shelving unit made of steel wire",
}


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    external = os.environ.get("MROS_OPENSEARCH_URL")
    if external:
        yield external.rstrip("/")
        return
    from mr_opensearch.cluster.node import lifecycle, state

    already_running = lifecycle.running_state(state.node_dir(TEST_PORT)) is not None
    node = lifecycle.up(port=TEST_PORT, heap=TEST_HEAP, timeout=300)
    yield node.url
    if not already_running:
        lifecycle.down(port=TEST_PORT)


@pytest.fixture(scope="session")
def opensearch_client(opensearch_url: str) -> Any:
    from opensearchpy import OpenSearch

    client = OpenSearch(hosts=[opensearch_url], timeout=120, max_retries=2, retry_on_timeout=True)
    assert client.cluster.health()["status"] in ("green", "yellow")
    return client


@pytest.fixture(scope="session")
def installed_plugins(opensearch_client: Any) -> set[str]:
    return {row["component"] for row in opensearch_client.cat.plugins(format="json")}


@pytest.fixture(scope="session")
def require_plugins(installed_plugins: set[str]) -> Callable[..., None]:
    """A function that skips the calling test, naming the plugins, when the node lacks any of them;
    with ``MROS_REQUIRE_PLUGINS=1`` it fails the test instead (same message), for CI that has them."""

    def check(*names: str) -> None:
        missing = [name for name in names if name not in installed_plugins]
        if missing:
            message = (
                f"the node lacks {', '.join(missing)} (not served by the Maven registry this machine reaches; "
                "give the zips with `mros opensearch up --plugin-zip` or point MROS_OPENSEARCH_URL at a full node)"
            )
            if os.environ.get("MROS_REQUIRE_PLUGINS") == "1":
                pytest.fail(message)
            pytest.skip(message)

    return check


@pytest.fixture(scope="session")
def corpus() -> dict[str, str]:
    return dict(CORPUS)


@dataclass
class TinyModel:
    model_dir: Path
    export: Any  # trainer.export.ExportResult
    encoder: Any  # trainer.export.OnnxEncoder over the packaged ONNX model

    def embed(self, texts: list[str]) -> Any:
        return self.encoder.encode(texts)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    from tiny_models import build_tiny_sentence_transformer

    from trainer.export import OnnxEncoder, export_for_ml_commons

    root = tmp_path_factory.mktemp("tiny-model")
    texts = list(CORPUS.values()) * 3
    model_dir = build_tiny_sentence_transformer(root / "model", texts)
    export = export_for_ml_commons(model_dir, root / "export", quantize=False, name="mros-tiny-test")
    packaged = export.fp32_onnx
    encoder = OnnxEncoder(packaged, packaged.parent / "tokenizer.json", pooling="mean", normalize=True)
    return TinyModel(model_dir=model_dir, export=export, encoder=encoder)


@pytest.fixture(scope="session")
def deployed_model(
    opensearch_client: Any, require_plugins: Callable[..., None], tiny_model: TinyModel
) -> Iterator[str]:
    """The tiny model registered in ML Commons by chunked upload and deployed; yields its model id."""
    require_plugins("opensearch-job-scheduler", "opensearch-ml")
    from mr_opensearch.deploy import ml_commons
    from tests.tools import ml_commons_support

    export = tiny_model.export
    model_id = ml_commons_support.register_model(
        opensearch_client,
        export.zip_path,
        name="mros-tiny-test",
        version="1.0.0",
        model_config=export.model_config,
        sha256=export.sha256,
        description="tiny random BERT for the mros integration tests",
        chunk_bytes=256 * 1024,
    )
    ml_commons.deploy_model(opensearch_client, model_id)
    yield model_id
    ml_commons_support.delete_model(opensearch_client, model_id)


@dataclass
class ServingRuns:
    """Two run directories as ``mros train`` writes them (``onnx/`` package and ``boundaries.json``), from
    two tiny encoders that differ only in their random seed, and a generated catalog with judgments."""

    data: Path
    catalog: Path
    judgments: Path
    runs: list[Path]


def _serving_run(root: Path, titles: list[str], judgments: Path, seed: int) -> Path:
    import csv
    import json

    import numpy as np
    from tiny_models import build_tiny_sentence_transformer

    from trainer.boundaries import learn_boundaries
    from trainer.export import OnnxEncoder, export_for_ml_commons

    run = root / f"run-{seed}"
    model_dir = build_tiny_sentence_transformer(run / "model", titles, seed=seed)
    export = export_for_ml_commons(model_dir, run / "onnx", name=f"mros-serving-test-{seed}")
    encoder = OnnxEncoder(export.int8_onnx, export.int8_onnx.parent / "tokenizer.json")
    with open(judgments, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(judgments.parent / "products.csv", encoding="utf-8") as fh:
        title_of = {r["product_uid"]: r["product_title"] for r in csv.DictReader(fh)}
    queries = encoder.encode([r["query"] for r in rows])
    products = encoder.encode([title_of[r["product_uid"]] for r in rows])
    cosines = (queries * products).sum(axis=1)
    grades = np.array([2 if float(r["relevance"]) >= 2.67 else 1 if float(r["relevance"]) >= 2.0 else 0 for r in rows])
    (run / "boundaries.json").write_text(json.dumps(learn_boundaries(cosines, grades), default=float))
    return run


@pytest.fixture(scope="session")
def serving_runs(tmp_path_factory: pytest.TempPathFactory) -> ServingRuns:
    import csv

    from tiny_models import write_synthetic_dataset

    root = tmp_path_factory.mktemp("serving")
    data = write_synthetic_dataset(root / "data", n_products=150, n_queries=30)
    with open(data / "products.csv", encoding="utf-8") as fh:
        titles = [r["product_title"] for r in csv.DictReader(fh)]
    runs = [_serving_run(root, titles, data / "judgments.csv", seed) for seed in (0, 1)]
    return ServingRuns(data=data, catalog=data / "products.csv", judgments=data / "judgments.csv", runs=runs)


@pytest.fixture(scope="module")
def own_serving_runs(serving_runs: ServingRuns, tmp_path_factory: pytest.TempPathFactory) -> ServingRuns:
    """The serving runs copied (``onnx/`` and ``boundaries.json``) for a module that deploys them: a deploy
    writes ``RUN/deploy/``, and the session's runs are shared with modules that check that folder."""
    import shutil

    root = tmp_path_factory.mktemp("own-runs")
    copies = []
    for run in serving_runs.runs:
        copy = root / run.name
        shutil.copytree(run / "onnx", copy / "onnx")
        shutil.copyfile(run / "boundaries.json", copy / "boundaries.json")
        copies.append(copy)
    return ServingRuns(data=serving_runs.data, catalog=serving_runs.catalog, judgments=serving_runs.judgments,
                       runs=copies)


@pytest.fixture(scope="session")
def deployed_alias(opensearch_url: str, opensearch_client: Any, serving_runs: ServingRuns,
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str, Path, Path]:
    """``(client, alias, run_dir, judgments_path)`` of a client-mode deploy of the first serving run."""
    from typer.testing import CliRunner

    from mr_opensearch.cli import app

    alias = "mros-test-serving"
    home = tmp_path_factory.mktemp("mros-home")
    for name in list(opensearch_client.indices.get(index=f"{alias}-*")):
        opensearch_client.indices.delete(index=name)
    outcome = CliRunner().invoke(app, ["--no-progress", "deploy", "--run", str(serving_runs.runs[0]), "--catalog",
                                       str(serving_runs.catalog), "--alias", alias, "--url", opensearch_url,
                                       "--embedding", "client", "--json"], env={"MROS_HOME": str(home)})
    assert outcome.exit_code == 0, outcome.output
    return opensearch_client, alias, serving_runs.runs[0], serving_runs.judgments


@pytest.fixture(scope="session")
def tls_proxy(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """nginx terminating TLS (certificate from a test CA) with basic auth in front of the test node, plus a
    port serving an expired certificate (:mod:`tls_proxy`); a distinctive password made for the session."""
    import secrets

    from tls_proxy import nginx_binary, start_tls_proxy

    if nginx_binary() is None:
        pytest.skip("nginx is not installed and could not be (scripts/_install.sh installs Debian's nginx-light)")
    if not opensearch_url.startswith("http://"):
        pytest.skip(f"the TLS proxy fronts a plain-HTTP node; the test node is {opensearch_url}")
    password = f"Tls-{secrets.token_hex(6)}-Pw"
    proxy = start_tls_proxy(tmp_path_factory.mktemp("tls-proxy"), opensearch_url.removeprefix("http://"),
                            user="mros-admin", password=password)
    yield proxy
    proxy.stop()
