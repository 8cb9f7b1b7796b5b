"""`mros run` end to end on a tiny model and generated data, against the real node: labeler, Stage 1,
Stage 2, export, deploy (k-NN index behind an alias), in-engine evaluation, report; then a rerun that
skips every step, and a deploy interrupted half way that the next run finishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import synthetic_data_and_base
from typer.testing import CliRunner

from mr_opensearch.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("run")
    data, base = synthetic_data_and_base(root, n_products=80, n_queries=50)
    config = root / "run.yaml"
    config.write_text(f"""
profile: full
train:
  stage1: {{epochs: 1, queries_per_batch: 8}}
  mnrl: {{epochs: 1, batch_size: 8}}
  stage2: {{enabled: true, max_steps: 4, queries_per_batch: 8, mining: {{k: 5, max_unjudged: 2}}}}
labeler: {{backbone: "{base}", epochs: 1, batch_size: 8}}
deploy: {{alias: mros-test-run}}
engine: {{max_queries: 20, warmup: 2, concurrency: 2}}
""")
    return {"root": root, "data": data, "base": base, "config": config}


def _run(job: dict[str, Path], url: str, out: Path) -> Any:
    return CliRunner().invoke(app, ["--no-progress", "run", "--config", str(job["config"]), "--data", str(job["data"]),
                                    "--base", str(job["base"]), "--url", url, "--out", str(out), "--json"])


def test_run_goes_end_to_end_and_reruns_as_a_no_op(tiny_job, opensearch_url, opensearch_client, require_plugins):
    require_plugins("opensearch-knn")
    out = tiny_job["root"] / "job"
    first = _run(tiny_job, opensearch_url, out)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    for rel in ("labeler/metrics.json", "stage1-model", "model", "mined.parquet", "onnx/ml-commons.zip",
                "engine/metrics.json", "report/index.html", "run.json"):
        assert (out / rel).exists(), rel
    # the alias points at a complete index holding the whole catalog
    with open(tiny_job["data"] / "products.csv", encoding="utf-8") as fh:
        n_products = sum(1 for _ in fh) - 1
    index = summary["index"]
    assert list(opensearch_client.indices.get_alias(name="mros-test-run")) == [index]
    assert opensearch_client.count(index=index)["count"] == n_products
    meta = opensearch_client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    assert meta["complete"] is True and meta["model_sha256"] == json.loads((out / "onnx" / "ml-commons.json").read_text())["model_content_hash_value"]
    engine = json.loads((out / "engine" / "metrics.json").read_text())
    test_queries = json.loads((out / "splits.json").read_text())["test"]["queries"]
    assert engine["queries"] == min(20, test_queries) > 0
    assert 0.0 <= engine["quality"]["ndcg@10"] <= 1.0
    assert engine["latency_ms"]["p50"] > 0 and engine["throughput"]["qps_2_clients"] > 0
    assert "In-engine evaluation" in (out / "report" / "index.html").read_text()
    assert "no in-engine measurements" not in (out / "report" / "index.html").read_text()

    second = CliRunner().invoke(app, ["run", "--config", str(tiny_job["config"]), "--data", str(tiny_job["data"]),
                                      "--base", str(tiny_job["base"]), "--url", opensearch_url, "--out", str(out)])
    assert second.exit_code == 0, second.output
    for step in ("labeler: already trained", "stage 1: already trained", "stage 2: already trained",
                 "export: already done", "already complete", "in-engine evaluation: already done"):
        assert step in second.output, step
    opensearch_client.indices.delete(index=index)


def test_an_interrupted_deploy_is_finished_by_the_next_run(opensearch_client, require_plugins):
    require_plugins("opensearch-knn")
    from mr_opensearch.cluster.vector_index import index_catalog
    from mr_opensearch.core.errors import MrosError

    ids = [f"p{i}" for i in range(40)]
    texts = [f"product number {i}" for i in range(40)]
    rng = np.random.default_rng(0)
    table = {t: rng.normal(size=8).astype(np.float32) for t in texts}
    calls = {"n": 0}

    def crashing(batch: list[str]) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 3:  # the probe, the first batch, then a crash
            raise KeyboardInterrupt
        return np.stack([table[t] for t in batch])

    with pytest.raises(KeyboardInterrupt):
        index_catalog(opensearch_client, ids, texts, crashing, model_sha="ab" * 32, prefix="mros-test-crash",
                      alias="mros-test-crash", batch_size=16)
    name = "mros-test-crash-" + "ab" * 5
    index = next(i for i in opensearch_client.indices.get(index="mros-test-crash-*") if i.startswith(name))
    assert opensearch_client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]["complete"] is False
    assert not opensearch_client.indices.exists_alias(name="mros-test-crash")  # nothing half-done is served

    result = index_catalog(opensearch_client, ids, texts, lambda b: np.stack([table[t] for t in b]),
                           model_sha="ab" * 32, prefix="mros-test-crash", alias="mros-test-crash", batch_size=16)
    assert not result.skipped and result.index == index
    assert opensearch_client.count(index=index)["count"] == 40
    assert list(opensearch_client.indices.get_alias(name="mros-test-crash")) == [index]
    # an unfinished index of the same name but other vectors is refused, not mixed
    meta = opensearch_client.indices.get_mapping(index=index)[index]["mappings"]["_meta"]
    opensearch_client.indices.put_mapping(index=index, body={"_meta": {**meta, "complete": False}})
    with pytest.raises(MrosError, match="another model or dimension"):
        index_catalog(opensearch_client, ids, texts, lambda b: np.ones((len(b), 4), dtype=np.float32),
                      model_sha="ab" * 32, prefix="mros-test-crash", alias=None, batch_size=16)
    opensearch_client.indices.delete(index=index)


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    from mr_opensearch.cluster.connection import ClusterConfig, connect
    from mr_opensearch.core.errors import MrosError

    with pytest.raises(MrosError, match="cannot reach OpenSearch at"):
        connect(ClusterConfig(timeout=2), "http://127.0.0.1:9")
