"""``mros run``: the whole job, from graded judgments to a measured index in OpenSearch.

Steps (each skipped when its output exists for the same inputs and config, so a rerun after a crash
continues where it stopped; markers hold content hashes in ``RUN/.steps/``):

1. cluster: ``--url`` / ``opensearch.url``, else a local node (``mros opensearch up``), checked by the
   deploy preflight (URL, CA file, reachability with a short timeout, version, k-NN, alias) before
   anything is trained or written;
2. labeler: ``mros label train`` into ``RUN/labeler`` (when ``use_labeler``);
3. training: ``mros train`` into ``RUN`` (Stage 1, Stage 2 with the labeler grading mined pairs,
   ONNX export, the MNRL baseline when ``eval.baselines`` includes ``mnrl``, evaluation against
   BM25 / base / MNRL, learned boundaries: the steps of :func:`trainer.run.train_run`);
4. deploy: a ``lucene`` HNSW index of the catalog with the exported model's vectors, behind an alias
   (:mod:`mr_opensearch.cluster.vector_index`);
5. in-engine evaluation on the test queries: quality, latency, throughput (``RUN/engine/metrics.json``);
6. report: ``RUN/report/index.html``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mr_opensearch.core.hashing import content_key
from mr_opensearch.core.safe_write import make_dir, write_text
from mr_opensearch.job.config import RunConfig

Log = Callable[[str], None]


def train_labeler_step(config: RunConfig, run_dir: Path, steps: Any, progress: bool, log: Log) -> Path | None:
    if not config.use_labeler:
        return None
    from trainer.labeler.train import train_labeler

    out = run_dir / "labeler"
    key = content_key(config.labeler.model_dump(mode="json"))
    if steps.done("labeler", key) and (out / "metrics.json").exists():
        log("labeler: already trained, skipping")
        return out
    log(f"labeler: training ({config.labeler.backbone} backbone)")
    metrics = train_labeler(config.labeler, out, progress=progress, log=log)
    log(f"labeler: held-out accuracy {metrics.get('accuracy', float('nan')):.3f}, "
        f"within-1 {metrics.get('within1_accuracy', float('nan')):.3f}, macro-F1 {metrics.get('macro_f1', float('nan')):.3f}")
    steps.mark("labeler", key)
    return out


def cluster_step(config: RunConfig, url: str | None, log: Log) -> Any:
    """Connect and run the deploy preflight (reachable, version, k-NN, alias ownership) before training."""
    from mr_opensearch.cluster.connection import connect
    from mr_opensearch.deploy.preflight import run_preflight

    target = url or config.opensearch.url
    if not target:
        from mr_opensearch.cluster.node import lifecycle

        log(f"opensearch: starting the local node on port {config.opensearch.port} (`mros opensearch up`)")
        node = lifecycle.up(port=config.opensearch.port, heap=config.opensearch.heap, timeout=300, report=log)
        target = node.url
        log(f"opensearch: the local node keeps running after the run so you can query {target}; "
            f"stop it with `mros opensearch down --port {config.opensearch.port}`")
    client = connect(config.opensearch, target)
    checked = run_preflight(client, alias=config.deploy.alias, dimension=None, embedding=config.deploy.embedding)
    log(f"opensearch: {target} (OpenSearch {checked.version}, {checked.embedding} embedding: {checked.embedding_reason})")
    return client


class RunCatalog:
    """The catalog the run trained on (the profile's subset included), shaped as deploy reads a catalog file."""

    def __init__(self, ids: list[str], texts: list[str], path: str | None) -> None:
        self.ids, self.titles, self.extra, self.path = list(ids), list(texts), {}, path

    def embedding_texts(self, fields: Any = ("title",)) -> list[str]:
        return list(self.titles)


def deploy_step(config: RunConfig, run_dir: Path, client: Any, catalog: Any, progress: bool, log: Log) -> Any:
    """``mros deploy`` of this run (:func:`mr_opensearch.deploy.deploy.deploy`)."""
    from mr_opensearch.deploy.deploy import DeployOptions, deploy
    from mr_opensearch.search.served_model import load_run

    d = config.deploy
    options = DeployOptions(alias=d.alias, embedding=d.embedding, keep=d.keep, batch_size=d.batch_size,
                            hnsw_m=d.hnsw_m, ef_construction=d.ef_construction, ef_search=d.ef_search,
                            text_analyzer=d.text_analyzer, progress=progress, catalog_path=catalog.path)
    outcome = deploy(client, load_run(run_dir), catalog, options, log=log)
    done = " already complete, nothing to do" if outcome.action == "nothing to do" else f" {outcome.action}"
    log(f"deploy: {outcome.index} ({outcome.documents} documents){done}; alias {outcome.alias}")
    return outcome


def train_step(config: RunConfig, run_dir: Path, labeler_dir: Path | None, progress: bool, log: Log
               ) -> tuple[Any, Any, dict]:
    """``mros train`` into the run directory, with Stage 2 graded by this run's labeler unless the config
    names one; returns the training config used, the loaded data and the run's metrics."""
    from trainer.run import train_run
    from trainer.run_data import load_data

    train_config = config.train.model_copy(deep=True)
    if labeler_dir is not None and train_config.stage2.enabled and train_config.stage2.labeler is None:
        train_config.stage2.labeler = labeler_dir
    data = load_data(train_config)
    metrics = train_run(train_config, run_dir, progress=progress, log=log, data=data)
    return train_config, data, metrics


def run_catalog(train_config: Any, data: Any) -> RunCatalog:
    """The catalog the run trained on, with the path of its file when the data came from a folder."""
    catalog_file = train_config.data.dir / train_config.data.catalog if train_config.data.dir else None
    return RunCatalog(data.catalog.ids, data.catalog.texts, str(catalog_file) if catalog_file else None)


def engine_step(config: RunConfig, run_dir: Path, client: Any, indexed: Any, train_config: Any, data: Any,
                metrics: dict, steps: Any, log: Log) -> dict:
    """In-engine evaluation of the deployed index on the test queries (validation without a test split),
    written to ``RUN/engine/metrics.json``; reused when done for the same index and engine config."""
    engine_dir = run_dir / "engine"
    engine_dir.mkdir(exist_ok=True)
    key = content_key(indexed.index, config.engine.model_dump(mode="json"))
    if steps.done("engine", key) and (engine_dir / "metrics.json").exists():
        log("in-engine evaluation: already done, skipping")
        return json.loads((engine_dir / "metrics.json").read_text())
    from mr_opensearch.core.encoder_package import load_served_encoder
    from mr_opensearch.search.engine_eval import evaluate_in_engine
    from mr_opensearch.search.served_model import read_boundaries_file

    encoder = load_served_encoder(run_dir / "onnx")
    test = data.splits["test"] if len(data.splits["test"]) else data.splits["validation"]
    boundaries_file = run_dir / "boundaries.json"
    boundaries = read_boundaries_file(boundaries_file).cosine if boundaries_file.exists() else None
    log(f"in-engine evaluation: {min(len(test.queries), config.engine.max_queries or 10**9)} queries on {indexed.index}")
    engine = evaluate_in_engine(client, indexed.index, test, lambda qs: encoder.encode(qs, 64), config.engine, boundaries)
    add_engine_context(engine, indexed, metrics, train_config, client)
    write_text(engine_dir / "metrics.json", json.dumps(engine, indent=2, sort_keys=True))
    steps.mark("engine", key)
    return engine


def add_engine_context(engine: dict, indexed: Any, metrics: dict, train_config: Any, client: Any) -> None:
    """Add to the in-engine metrics: the index size, indexing throughput (when this run wrote documents),
    the offline exact-search nDCG@10 of the served ONNX model and the cluster's version."""
    from trainer.evaluation.run_step import ONNX_SUFFIX
    from trainer.run_layout import final_model_name

    engine["index_documents"] = indexed.documents
    if indexed.written:
        engine["throughput"]["index_docs_per_second"] = indexed.docs_per_second
        engine["throughput"]["catalog_embeddings_per_second"] = indexed.written / max(indexed.encode_seconds, 1e-9)
    offline = metrics.get("splits", {}).get("test", {}).get(f"{final_model_name(train_config)}{ONNX_SUFFIX}", {})
    engine["offline_exact_search_ndcg@10"] = offline.get("ndcg@10")
    engine["cluster_version"] = client.info()["version"]["number"]


def run_summary(config: RunConfig, run_dir: Path, indexed: Any, page: Path, timings: dict[str, float],
                started: float, metrics: dict, engine: dict) -> dict:
    """The run's summary (``RUN/run.json``): where things are, step timings and the nDCG@10 figures."""
    return {"run": str(run_dir), "profile": config.profile, "index": indexed.index, "alias": indexed.alias,
            "report": str(page), "seconds": timings, "total_seconds": time.time() - started,
            "test_ndcg@10": {name: m.get("ndcg@10") for name, m in metrics.get("splits", {}).get("test", {}).items()},
            "engine_ndcg@10": engine["quality"]["ndcg@10"]}


class StepTimer:
    """Wall seconds per named step: ``with timer("deploy"): ...`` adds to ``timer.seconds["deploy"]``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.time()
        try:
            yield
        finally:
            self.seconds[name] = time.time() - start


def run_job(config: RunConfig, run_dir: Path, *, url: str | None = None, progress: bool = True,
            log: Log = print) -> dict:
    """Run every step; returns a summary (also written to ``RUN/run.json``)."""
    from mr_opensearch.job.report import build_report
    from trainer.steps import Steps

    timer, started = StepTimer(), time.time()
    # The cluster first: a wrong URL, CA file, credentials, version or plugin set fails in seconds,
    # before any training (minutes to an hour) and before anything is written to the run directory.
    with timer("cluster"):
        client = cluster_step(config, url, log)
    make_dir(run_dir)
    write_text(run_dir / "run-config.yaml", config.dump_yaml())
    steps = Steps(run_dir)
    with timer("labeler"):
        labeler_dir = train_labeler_step(config, run_dir, steps, progress, log)
    with timer("train"):
        train_config, data, metrics = train_step(config, run_dir, labeler_dir, progress, log)
    with timer("deploy"):
        indexed = deploy_step(config, run_dir, client, run_catalog(train_config, data), progress, log)
    with timer("engine"):
        engine = engine_step(config, run_dir, client, indexed, train_config, data, metrics, steps, log)
    q, lat = engine["quality"], engine["latency_ms"]
    log(f"in-engine: nDCG@10 {q['ndcg@10']:.4f} over {engine['queries']} queries; latency p50 {lat['p50']:.1f} ms, "
        f"p95 {lat['p95']:.1f} ms")
    with timer("report"):
        page = build_report(run_dir, labeler_dir=labeler_dir)
    summary = run_summary(config, run_dir, indexed, page, timer.seconds, started, metrics, engine)
    write_text(run_dir / "run.json", json.dumps(summary, indent=2, sort_keys=True))
    return summary
